import ObsCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The standard `process_*` metrics (as Prometheus client libraries export them), read from
/// `/proc/self` at scrape time.
enum ProcessMetrics {
    static func register(in registry: MetricsRegistry) {
        let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
        let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))
        let bootTime = readBootTime()
        registry.addCollector { writer in
            guard let stat = readStat() else { return }
            writer.header(name: "process_cpu_seconds_total", help: "Total user and system CPU time spent in seconds.", type: "counter")
            writer.sample(name: "process_cpu_seconds_total", value: (stat.userTicks + stat.systemTicks) / ticksPerSecond)
            writer.header(name: "process_resident_memory_bytes", help: "Resident memory size in bytes.", type: "gauge")
            writer.sample(name: "process_resident_memory_bytes", value: stat.residentPages * pageSize)
            writer.header(name: "process_virtual_memory_bytes", help: "Virtual memory size in bytes.", type: "gauge")
            writer.sample(name: "process_virtual_memory_bytes", value: stat.virtualBytes)
            if let bootTime {
                writer.header(name: "process_start_time_seconds", help: "Start time of the process since unix epoch in seconds.", type: "gauge")
                writer.sample(name: "process_start_time_seconds", value: bootTime + stat.startTicks / ticksPerSecond)
            }
            writer.header(name: "process_open_fds", help: "Number of open file descriptors.", type: "gauge")
            writer.sample(name: "process_open_fds", value: Double(countOpenFiles()))
            var limit = rlimit()
            if getrlimit(RLIMIT_NOFILE_VALUE, &limit) == 0 {
                writer.header(name: "process_max_fds", help: "Maximum number of open file descriptors.", type: "gauge")
                writer.sample(name: "process_max_fds", value: Double(limit.rlim_cur))
            }
        }
    }

    struct Stat {
        var userTicks: Double
        var systemTicks: Double
        var startTicks: Double
        var virtualBytes: Double
        var residentPages: Double
    }

    #if os(Linux)
    private static let RLIMIT_NOFILE_VALUE = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #else
    private static let RLIMIT_NOFILE_VALUE = RLIMIT_NOFILE
    #endif

    /// Fields of `/proc/self/stat` after the command name (which may contain spaces, so parsing starts
    /// after its closing parenthesis): state is field 3, utime 14, stime 15, starttime 22, vsize 23, rss 24.
    static func readStat() -> Stat? {
        guard let bytes = try? FileIO.readFile("/proc/self/stat"),
              let close = bytes.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let fields = bytes[(close + 1)...].split(separator: UInt8(ascii: " ")).map { Double(String(decoding: $0, as: UTF8.self)) ?? 0 }
        // fields[0] is field 3 (state, not numeric).
        guard fields.count >= 22 else { return nil }
        return Stat(userTicks: fields[11], systemTicks: fields[12], startTicks: fields[19],
                    virtualBytes: fields[20], residentPages: fields[21])
    }

    /// Threads of this process (field 20 of `/proc/self/stat`).
    static func threadCount() -> Int {
        guard let bytes = try? FileIO.readFile("/proc/self/stat"),
              let close = bytes.lastIndex(of: UInt8(ascii: ")")) else { return 0 }
        let fields = bytes[(close + 1)...].split(separator: UInt8(ascii: " "))
        guard fields.count > 17 else { return 0 }
        return Int(String(decoding: fields[17], as: UTF8.self)) ?? 0
    }

    static func readBootTime() -> Double? {
        guard let bytes = try? FileIO.readFile("/proc/stat") else { return nil }
        for line in bytes.split(separator: UInt8(ascii: "\n")) where line.starts(with: "btime ".utf8) {
            return Double(String(decoding: line.dropFirst(6), as: UTF8.self).trimmingSpaces())
        }
        return nil
    }

    static func countOpenFiles() -> Int {
        guard let directory = opendir("/proc/self/fd") else { return 0 }
        defer { closedir(directory) }
        var count = 0
        while let entry = readdir(directory) {
            let isDot = withUnsafeBytes(of: entry.pointee.d_name) { $0.first == UInt8(ascii: ".") }
            if !isDot { count += 1 }
        }
        // The directory handle itself is one of the descriptors listed.
        return max(0, count - 1)
    }
}

extension String {
    func trimmingSpaces() -> String {
        String(self.drop { $0 == " " }.reversed().drop { $0 == " " || $0 == "\n" }.reversed())
    }
}
