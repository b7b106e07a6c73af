// The seams to the platform. The app (ios/App) implements them with Apple frameworks
// (Keychain, UNUserNotificationCenter); the tests use the core's own memory key provider and a
// recording scheduler. The URLSession transport lives here because FoundationNetworking has it
// on Linux too, so the journeys exercise exactly the app's transport against a relay.
import Collabzium
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Where the store's key comes from: the platform key store, or a passphrase.
public protocol KeySource: Sendable {
    /// The device-bound provider (Keychain, Secure Enclave where present).
    func deviceKey() throws -> KeyProvider
    func passphrase(_ passphrase: String) -> KeyProvider
}

extension KeySource {
    public func passphrase(_ passphrase: String) -> KeyProvider { passphraseKeyProvider(passphrase: passphrase) }
}

/// The platform key store could not give a key (locked device, invalidated biometry).
public enum KeySourceError: Error, Sendable {
    case unavailable
}

/// The notification side the app implements: the core's `NotificationScheduler` foreign trait
/// (`maxPending`, `replacePending`) plus asking for permission. Text always comes from the
/// core's plan, which is neutral (no health data).
public protocol AppNotificationScheduler: NotificationScheduler {
    func requestPermission() async -> Bool
}

/// A small lock for values handed between the transport's threads.
final class Locked<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T
    init(_ value: T) { stored = value }
    var value: T {
        get { lock.lock(); defer { lock.unlock() }; return stored }
        set { lock.lock(); stored = newValue; lock.unlock() }
    }
}

/// The app's `HttpTransport` on URLSession. The core calls `send` synchronously from the thread
/// that runs `core { }` (never the main thread), so this blocks that thread on a semaphore
/// until the data task completes on the session's own queue.
public final class URLSessionTransport: HttpTransport, @unchecked Sendable {
    private let session: URLSession
    private let timeout: TimeInterval

    /// Headers URLSession manages itself.
    private static let restricted: Set<String> = ["connection", "content-length", "host", "expect", "upgrade"]

    public init(timeout: TimeInterval = 15) {
        let config = URLSessionConfiguration.ephemeral
        config.timeoutIntervalForRequest = timeout
        config.requestCachePolicy = .reloadIgnoringLocalCacheData
        config.urlCache = nil
        config.httpShouldSetCookies = false
        config.httpCookieStorage = nil
        session = URLSession(configuration: config)
        self.timeout = timeout
    }

    deinit { session.invalidateAndCancel() }

    public func send(request: HttpRequest) throws -> HttpResponse {
        if Thread.isMainThread {
            throw TransportError.Unreachable(reason: "send called on the main thread")
        }
        guard let url = URL(string: request.url) else {
            throw TransportError.Unreachable(reason: "malformed url")
        }
        var req = URLRequest(url: url)
        req.httpMethod = request.method
        for h in request.headers where !Self.restricted.contains(h.name.lowercased()) {
            req.addValue(h.value, forHTTPHeaderField: h.name)
        }
        if !request.body.isEmpty { req.httpBody = request.body }

        let done = DispatchSemaphore(value: 0)
        let result = Locked<(Data?, URLResponse?, Error?)>((nil, nil, nil))
        let task = session.dataTask(with: req) { data, response, error in
            result.value = (data, response, error)
            done.signal()
        }
        task.resume()
        if done.wait(timeout: .now() + timeout + 5) == .timedOut {
            task.cancel()
            throw TransportError.Timeout
        }
        let (data, response, error) = result.value
        if let error {
            if let e = error as? URLError, e.code == .timedOut { throw TransportError.Timeout }
            // The reason is the error's category only: URLs and bodies never go into it.
            throw TransportError.Unreachable(reason: (error as? URLError).map { "url error \($0.code.rawValue)" } ?? "network error")
        }
        guard let http = response as? HTTPURLResponse else {
            throw TransportError.Unreachable(reason: "not an HTTP response")
        }
        let headers = http.allHeaderFields.map { HttpHeader(name: "\($0.key)", value: "\($0.value)") }
        return HttpResponse(status: UInt16(clamping: http.statusCode), headers: headers, body: data ?? Data())
    }
}
