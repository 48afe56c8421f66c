import ObsCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A fresh directory under the system temporary directory, removed by the caller.
func makeTemporaryDirectory() -> String {
    var template = Array("/tmp/obs-store-test-XXXXXX".utf8CString)
    let path = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    return String(cString: path!)
}

func removeTree(_ path: String) {
    _ = path.withCString { _ in system("rm -rf '\(path)'") }
}

@Suite struct FileIOTests {
    @Test func atomicWriteCreatesAndReplaces() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTree(directory) }
        let path = directory + "/state.json"
        try FileIO.writeAtomically(Array("first".utf8), to: path)
        #expect(try FileIO.readFile(path) == Array("first".utf8))
        try FileIO.writeAtomically(Array("second, longer".utf8), to: path)
        #expect(try FileIO.readFile(path) == Array("second, longer".utf8))
        #expect(try FileIO.readFile(path + ".tmp") == nil)
    }

    @Test func readingAMissingFileIsNil() throws {
        #expect(try FileIO.readFile("/nonexistent/obs/file") == nil)
    }

    @Test func writeIntoMissingDirectoryNamesThePath() throws {
        let error = #expect(throws: CoreError.self) {
            try FileIO.writeAtomically([1, 2, 3], to: "/nonexistent-dir/obs/file")
        }
        #expect(error?.description.contains("/nonexistent-dir/obs/file.tmp") == true)
    }

    @Test func makeDirectoriesIsIdempotent() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTree(directory) }
        try FileIO.makeDirectories(directory + "/a/b/c")
        try FileIO.makeDirectories(directory + "/a/b/c")
        try FileIO.writeAtomically([1], to: directory + "/a/file")
        #expect(throws: CoreError.self) { try FileIO.makeDirectories(directory + "/a/file") }
    }
}

@Suite struct DataDirectoryTests {
    @Test func secondOpenIsRefusedWhileTheFirstIsHeld() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTree(directory) }
        var first: DataDirectory? = try DataDirectory(path: directory + "/data")
        #expect(throws: CoreError.locked(path: directory + "/data")) { try DataDirectory(path: directory + "/data") }
        #expect(first?.path == directory + "/data")
        first = nil
        // Released on deinit: a new owner can take it.
        let second = try DataDirectory(path: directory + "/data/")
        #expect(second.path == directory + "/data")
        #expect(try second.subdirectory("wal") == directory + "/data/wal")
    }

    @Test func lockFileRecordsTheOwner() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTree(directory) }
        let held = try DataDirectory(path: directory)
        let contents = try FileIO.readFile(held.path + "/lock").map { String(decoding: $0, as: UTF8.self) }
        #expect(contents == "\(getpid())\n")
    }
}
