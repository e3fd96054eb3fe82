import Foundation

extension CollectorServer {
    /// `eddy serve --simulate RATE`: feeds the default stream from the simulator through the same
    /// ingest path as HTTP (validation, stamping, durable append), ten batches a second.
    public func simulate(rate: Int) async {
        var sim = Simulator(SimulatorConfig(rate: Double(rate)))
        let perTick = max(1, rate / 10)
        while !Task.isCancelled && !isShuttingDown {
            let t0 = ContinuousClock.now
            sim.setClock(ms: nowMs())
            let body = sim.batch(count: perTick)
            let out = await ingest.ingest(body: body, scope: .relay, clientIP: nil, stream: registry.defaultStream, nowMs: nowMs())
            _ = respond(out, started: t0)
            let spent = ContinuousClock.now - t0
            if spent < .milliseconds(100) { try? await Task.sleep(for: .milliseconds(100) - spent) }
        }
    }
}
