import AgentConfiguration
import LogIngest
import Logging
import ObsCore
import ServiceLifecycle
import Synchronization

/// Tails the configured log inputs into the log store once storage is open. A reload that changes
/// `logs.inputs` restarts the tailer with the new inputs; positions carry over.
struct LogTailService: Service {
    let stores: Stores
    let state: AgentState
    let positionsPath: String
    let logger: Logger

    func run() async throws {
        let changes = AsyncStream<[LogInputConfig]>.makeStream()
        state.onReload { config in changes.continuation.yield(config.logs.inputs) }
        let initial = state.config.logs.inputs
        await cancelWhenGracefulShutdown {
            var inputs = initial
            // Storage opens concurrently; the tailer needs the store.
            var store: LogStore?
            while store == nil && !Task.isCancelled {
                store = try? stores.logs()
                if store == nil { try? await Task.sleep(for: .milliseconds(50)) }
            }
            guard let store else { return }
            var iterator = changes.stream.makeAsyncIterator()
            while !Task.isCancelled {
                let current = inputs
                let running = Task { await tail(current, store: store) }
                var next: [LogInputConfig]?
                repeat {
                    next = await withTaskCancellationHandler {
                        await iterator.next()
                    } onCancel: {
                        changes.continuation.finish()
                    }
                } while next != nil && next == inputs
                running.cancel()
                await running.value
                guard let next else { return }
                inputs = next
                logger.info("Log inputs changed; tailer restarted", metadata: ["inputs": "\(inputs.count)"])
            }
        }
    }

    private func tail(_ inputs: [LogInputConfig], store: LogStore) async {
        guard !inputs.isEmpty else { return }
        do {
            let tailer = try LogTailer(inputs: inputs.map(\.tailInput), store: store, positionsPath: positionsPath,
                                       metrics: state.metrics, logger: logger)
            await tailer.run()
        } catch {
            logger.error("Log tailer could not start", metadata: ["err": "\(error)"])
        }
    }
}

extension LogInputConfig {
    var tailInput: TailInput {
        var input = TailInput(name: name, paths: paths)
        input.exclude = exclude
        input.format = TailInput.Format(rawValue: format.rawValue) ?? .auto
        input.labels = Labels(labels.pairs.map { Label($0.name, $0.value) })
        input.kubernetesLabels = kubernetesLabels
        input.startAtEnd = startAt == .end
        input.multiline = multiline.map { ($0.preset, $0.firstLine, $0.timeout.milliseconds, $0.maxLines) }
        input.rescanInterval = rescanInterval.milliseconds
        return input
    }
}
