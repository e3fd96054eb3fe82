/// TUI: how eddy is shown. Terminal/ is the only code that touches ncurses; panes draw into a pure
/// frame buffer (Canvas/) that is diffed against the last frame.
public enum TUIModule {
    public static let name = "TUI"
}
