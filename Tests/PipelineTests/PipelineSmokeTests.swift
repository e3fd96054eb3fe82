import XCTest
@testable import Pipeline

final class PipelineSmokeTests: XCTestCase {
    func testModuleLinks() { XCTAssertEqual(PipelineModule.name, "Pipeline") }
}
