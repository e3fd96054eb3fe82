import Foundation
import Metrics
import CEddy

/// Byte-level URL helpers the live path needs per event (page path, referrer host for display).
/// Channel and user-agent rules are `TrafficClassifier`'s, shared with delivery's enrichment.

enum LiveURLParts {
    /// Host of an absolute URL ("https://www.a.example/x" → "www.a.example"); empty when none.
    static func host(of u: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        guard let b = u.baseAddress, u.count > 0, let s = schemeEnd(u) else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        var e = s
        while e < u.count, u[e] != 0x2F, u[e] != 0x3F, u[e] != 0x23, u[e] != 0x3A { e += 1 }
        return UnsafeRawBufferPointer(start: b + s, count: e - s)
    }

    /// Path of a URL without query or fragment ("https://h/a/b?x" → "/a/b"); "/" for a bare host.
    static func path(of u: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        guard let b = u.baseAddress, u.count > 0 else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        var s = 0
        if let h = schemeEnd(u) {
            s = h
            while s < u.count, u[s] != 0x2F, u[s] != 0x3F, u[s] != 0x23 { s += 1 }
            if s >= u.count || u[s] != 0x2F { return UnsafeRawBufferPointer(start: slash.utf8Start, count: 1) }
        }
        var e = s
        while e < u.count, u[e] != 0x3F, u[e] != 0x23 { e += 1 }
        return UnsafeRawBufferPointer(start: b + s, count: e - s)
    }

    /// Index just after "://", if the URL has a scheme.
    static func schemeEnd(_ u: UnsafeRawBufferPointer) -> Int? {
        var i = 0
        while i + 2 < u.count && i < 16 {
            if u[i] == 0x3A && u[i + 1] == 0x2F && u[i + 2] == 0x2F { return i + 3 }
            i += 1
        }
        return nil
    }

    static let slash: StaticString = "/"
}

@inline(__always) func contains(_ hay: UnsafeRawBufferPointer, _ needle: StaticString) -> Bool {
    guard let h = hay.baseAddress, hay.count >= needle.utf8CodeUnitCount else { return false }
    return eddy_memmem(h, hay.count, needle.utf8Start, needle.utf8CodeUnitCount) != nil
}
