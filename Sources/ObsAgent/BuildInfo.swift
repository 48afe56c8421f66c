/// What this binary is, reported at `/api/v1/status/buildinfo` and as `obs_agent_build_info`.
enum BuildInfo {
    static let version = "0.1.0"
    static let branch = "main"

    /// The compiler that built this binary (reported where Prometheus reports its Go version).
    static var compilerVersion: String {
        #if compiler(>=6.4)
        "swift6.4"
        #elseif compiler(>=6.3)
        "swift6.3"
        #elseif compiler(>=6.2)
        "swift6.2"
        #elseif compiler(>=6.1)
        "swift6.1"
        #else
        "swift6.0"
        #endif
    }
}
