import XCTest
import Foundation

/// Golden text files live in Tests/TUITests/Golden/<name>.txt. Run with EDDY_RECORD_GOLDEN=1 to
/// (re)write them from the current rendering; otherwise a difference fails with both texts shown.
func assertGolden(_ text: String, _ name: String, file: StaticString = #filePath, line: UInt = #line) {
    let dir = URL(fileURLWithPath: "\(file)").deletingLastPathComponent().appendingPathComponent("Golden")
    let url = dir.appendingPathComponent(name + ".txt")
    if ProcessInfo.processInfo.environment["EDDY_RECORD_GOLDEN"] == "1" {
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try! (text + "\n").write(to: url, atomically: true, encoding: .utf8)
        return
    }
    guard let data = try? String(contentsOf: url, encoding: .utf8) else {
        XCTFail("missing golden \(name).txt; run with EDDY_RECORD_GOLDEN=1 to record", file: file, line: line)
        return
    }
    let want = data.hasSuffix("\n") ? String(data.dropLast()) : data
    if want != text {
        let w = want.split(separator: "\n", omittingEmptySubsequences: false)
        let g = text.split(separator: "\n", omittingEmptySubsequences: false)
        var firstDiff = 0
        while firstDiff < min(w.count, g.count) && w[firstDiff] == g[firstDiff] { firstDiff += 1 }
        XCTFail("golden \(name) differs at line \(firstDiff + 1)\n--- want\n\(want)\n--- got\n\(text)", file: file, line: line)
    }
}
