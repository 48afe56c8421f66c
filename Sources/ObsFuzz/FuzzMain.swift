#if canImport(Glibc)
import Glibc
#endif
import CShims
import Foundation

/// The fuzz driver. Built with `-sanitize=fuzzer,address` (scripts/fuzz.sh) it runs libFuzzer on
/// the target named by `OBS_FUZZ_TARGET`; built plainly it replays the files or corpus directories
/// given as arguments through that target (how CI checks every saved input without sanitizers).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let data else { return 0 }
    FuzzDriver.target(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

enum FuzzDriver {
    nonisolated(unsafe) static var target: (UnsafeRawBufferPointer) -> Void = { _ in }

    static func main(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
        let name = ProcessInfo.processInfo.environment["OBS_FUZZ_TARGET"] ?? ""
        guard let chosen = FuzzTargets.all[name] else {
            let names = FuzzTargets.all.keys.sorted().joined(separator: " ")
            fputs("set OBS_FUZZ_TARGET to one of: \(names)\n", stderr)
            return 2
        }
        target = chosen
        // libFuzzer's driver is there only in a fuzzer build.
        if obs_fuzzer_available() != 0 {
            var count = argc
            var vector: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = argv
            return obs_fuzzer_run(&count, &vector) { data, size in fuzzOneInput(data, size) }
        }
        return replay(CommandLine.arguments.dropFirst().filter { !$0.hasPrefix("-") })
    }

    /// Runs every file named, or every file in the directories named, through the target.
    static func replay(_ paths: some Collection<String>) -> Int32 {
        var files: [String] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                fputs("no such file: \(path)\n", stderr)
                return 2
            }
            if isDirectory.boolValue {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
                files += names.sorted().map { path + "/" + $0 }
            } else {
                files.append(path)
            }
        }
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else { continue }
            data.withUnsafeBytes { target($0) }
        }
        print("replayed \(files.count) inputs")
        return 0
    }
}

@_cdecl("ObsFuzz_main")
public func obsFuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    FuzzDriver.main(argc, argv)
}
