/// Pipeline: how data moves. Read the folders in order: Events → Collector → Stream → Delivery →
/// Lake → Warehouse; Simulator makes realistic traffic; Node.swift wires a node together.
public enum PipelineModule {
    public static let name = "Pipeline"
}
