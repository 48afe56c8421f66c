import ObsCore

/// One configured set of files to tail, with how to read and label them. Immutable.
public struct TailInput: Sendable {
    public enum Format: String, Sendable { case auto, cri, docker, text }

    public var name: String
    public var paths: [String]
    public var exclude: [String] = []
    public var format = Format.auto
    public var labels = Labels([Label]())
    /// `namespace`, `pod`, `pod_uid` and `container` from `/var/log/pods/<ns>_<pod>_<uid>/<container>/N.log`.
    public var kubernetesLabels = true
    /// Files that exist when the input first runs are read from their end instead of their start.
    public var startAtEnd = false
    public var multiline: (preset: String?, firstLine: String?, timeout: Int64, maxLines: Int)?
    /// Entries longer than this (bytes) are truncated to it.
    public var maxLineSize = 256 << 10
    /// How often (milliseconds) the path patterns are expanded again.
    public var rescanInterval: Int64 = 1000

    public init(name: String, paths: [String]) {
        self.name = name
        self.paths = paths
    }

    /// The labels a file's lines get from its path: the kubelet's layout when it applies, else
    /// `filename`.
    func pathLabels(_ path: String) -> [Label] {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        if kubernetesLabels, parts.count >= 3 {
            let podDirectory = parts[parts.count - 3].split(separator: "_", omittingEmptySubsequences: false)
            if podDirectory.count == 3, parts[parts.count - 1].hasSuffix(".log") {
                return [Label("namespace", String(podDirectory[0])), Label("pod", String(podDirectory[1])),
                        Label("pod_uid", String(podDirectory[2])), Label("container", String(parts[parts.count - 2]))]
            }
        }
        return [Label("filename", path)]
    }
}
