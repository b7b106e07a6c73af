// The state-holder pattern (docs/adr/0010-ios-app.md, the sibling of Android's ADR 0008): one
// @Observable holder per screen, exposing an immutable `state` value. Each refresh is one call
// into the Rust core; the holder only maps the core's screen record onto what the view draws.
// No SwiftUI or UIKit here: this builds and runs on Linux in the tests.
import Collabzium
import Foundation
import Observation

/// What went wrong, as something a screen can show and act on. Never carries personal data.
public enum ScreenError: Error, Equatable, Sendable {
    /// The key or passphrase does not unlock the store. Ask again; never delete anything.
    case wrongKey
    /// The relay could not be reached. Everything is kept and sent later.
    case offline
    /// The relay refused the request; `code` is its problem code.
    case relayRefused(status: Int, code: String)
    /// The platform key store is unavailable (device locked, key invalidated).
    case keyUnavailable
    /// Input refused; `field` names what (e.g. the item of a check-in).
    case invalid(field: String)
    /// Pairing failed with a stable code (invalid_code, code_mismatch, ...).
    case pairing(code: String)
    case notFound(what: String)
    /// Written by a newer app version.
    case updateNeeded
    /// The store was closed or erased.
    case closed
    /// Disk, corrupt data or an internal failure. `kind` is a short category, never content.
    case failure(kind: String)
}

/// Maps the core's typed errors onto screen errors; anything else is a failure, not a crash.
public func screenErrorOf(_ error: Error) -> ScreenError {
    switch error {
    case let e as ScreenError: return e
    case let e as CollabziumError:
        switch e {
        case .WrongKey: return .wrongKey
        case .Offline: return .offline
        case let .Relay(status, code): return .relayRefused(status: Int(status), code: code)
        case .KeyUnavailable: return .keyUnavailable
        case let .InvalidInput(field, _): return .invalid(field: field)
        case let .Pairing(code): return .pairing(code: code)
        case let .NotFound(what): return .notFound(what: what)
        case .UnsupportedVersion: return .updateNeeded
        case .Closed: return .closed
        case .Corrupt: return .failure(kind: "corrupt")
        case .Storage: return .failure(kind: "storage")
        case .AlreadyExists: return .failure(kind: "already_exists")
        }
    case is KeySourceError: return .keyUnavailable
    default: return .failure(kind: String(describing: type(of: error)))
    }
}

/// Kotlin's `Outcome`: the value of one core call, or the screen error it became.
public typealias Outcome<T> = Result<T, ScreenError>

/// Every screen's holder: an observable `state`, changed only by the holder's own actions.
@MainActor
public protocol StateHolder: AnyObject, Observable {
    associatedtype State
    var state: State { get }
}

/// Runs one core call off the main actor; a core error becomes a `ScreenError`.
///
/// The core blocks (SQLite, and the network through the transport's semaphore), so each call gets
/// its own thread with a large stack rather than a Swift-concurrency pool thread, which must never
/// block. This is Kotlin's `withContext(Dispatchers.IO)`.
public func core<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async -> Outcome<T> {
    await withCheckedContinuation { (done: CheckedContinuation<Outcome<T>, Never>) in
        let thread = Thread {
            do {
                done.resume(returning: .success(try body()))
            } catch {
                done.resume(returning: .failure(screenErrorOf(error)))
            }
        }
        thread.stackSize = 8 << 20
        thread.start()
    }
}
