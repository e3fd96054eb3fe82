// The fuzz targets' one way to report a broken invariant (the only file here that is not a
// symlink into Sources/Pipeline). Straight to fd 2, not print(): stdout is buffered when libFuzzer's output
// goes to a file, abort() does not flush it, and the message was lost (CI showed only "deadly signal").
import Foundation

public func fuzzFail(_ message: String) -> Never {
    let line = Array((message + "\n").utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    abort()
}
