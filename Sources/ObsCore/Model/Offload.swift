/// Where blocking work (queries, template expansion, SQLite) runs: inline in tests, on a
/// thread pool in the daemon, as the cooperative pool has only as many threads as cores.
public struct Offload: Sendable {
    public let run: @Sendable (@escaping @Sendable () -> Void) async -> Void

    public init(_ run: @escaping @Sendable (@escaping @Sendable () -> Void) async -> Void) {
        self.run = run
    }

    public static let inline = Offload { work in work() }
}
