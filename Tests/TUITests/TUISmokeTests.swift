import XCTest
@testable import TUI

final class TUISmokeTests: XCTestCase {
    func testModuleLinks() { XCTAssertEqual(TUIModule.name, "TUI") }
}
