// The store's key provider on iOS. The core generates the store's data key and asks this to wrap
// it; only the wrapped form is written to disk. Apple-only: parse-checked on Linux, never compiled there.
import Collabzium
import CollabziumAppCore
import CryptoKit
import Foundation
import LocalAuthentication
import Security

/// Wraps the data key with a key that never leaves the device:
/// - with a Secure Enclave: a P-256 key created inside it (not exportable), ECIES with AES-GCM;
/// - without one (simulator, old devices): a random AES-256 key in the Keychain, AES-GCM.
/// Both are `kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly`: not in backups, not on another
/// device, usable by background sync once the phone was unlocked after boot. `requireBiometry`
/// adds Face ID / Touch ID (`.biometryCurrentSet`: enrolling a new face invalidates the key, and
/// the app then asks for the passphrase route instead).
public final class KeychainKeyProvider: KeyProvider, @unchecked Sendable {
    private let tag: String
    private let requireBiometry: Bool
    private let context: LAContext?

    public init(tag: String = "org.collabzium.app.store-key", requireBiometry: Bool = false,
                context: LAContext? = nil) {
        self.tag = tag
        self.requireBiometry = requireBiometry
        self.context = context
    }

    public static var hasSecureEnclave: Bool { SecureEnclave.isAvailable }

    public func wrapKey(dataKey: Data) throws -> Data {
        if Self.hasSecureEnclave {
            let key = try enclaveKey(create: true)
            guard let pub = SecKeyCopyPublicKey(key) else { throw KeyProviderError.Unavailable(reason: "no public key") }
            var error: Unmanaged<CFError>?
            guard let out = SecKeyCreateEncryptedData(pub, .eciesEncryptionCofactorVariableIVX963SHA256AESGCM,
                                                      dataKey as CFData, &error) else {
                throw KeyProviderError.Unavailable(reason: "secure enclave encrypt failed")
            }
            return Data([1]) + (out as Data) // 1: enclave-wrapped
        }
        let box = try AES.GCM.seal(dataKey, using: try keychainKey(create: true))
        guard let combined = box.combined else { throw KeyProviderError.Unavailable(reason: "seal failed") }
        return Data([2]) + combined // 2: keychain AES key
    }

    public func unwrapKey(wrapped: Data) throws -> Data {
        guard let version = wrapped.first else { throw KeyProviderError.Malformed }
        let body = wrapped.dropFirst()
        switch version {
        case 1:
            let key = try enclaveKey(create: false)
            var error: Unmanaged<CFError>?
            guard let out = SecKeyCreateDecryptedData(key, .eciesEncryptionCofactorVariableIVX963SHA256AESGCM,
                                                      Data(body) as CFData, &error) else {
                // A failed decryption with an existing key means another key wrapped it.
                throw KeyProviderError.WrongKey
            }
            return out as Data
        case 2:
            do {
                return try AES.GCM.open(try AES.GCM.SealedBox(combined: body), using: try keychainKey(create: false))
            } catch is CryptoKitError {
                throw KeyProviderError.WrongKey
            }
        default:
            throw KeyProviderError.Malformed
        }
    }

    public func destroyKey() throws {
        for query in [enclaveQuery(), passwordQuery()] {
            let status = SecItemDelete(query as CFDictionary)
            guard status == errSecSuccess || status == errSecItemNotFound else {
                throw KeyProviderError.Unavailable(reason: "keychain delete \(status)")
            }
        }
    }

    // MARK: Secure Enclave

    private func accessControl() throws -> SecAccessControl {
        var flags: SecAccessControlCreateFlags = Self.hasSecureEnclave ? [.privateKeyUsage] : []
        if requireBiometry { flags.insert(.biometryCurrentSet) }
        var error: Unmanaged<CFError>?
        guard let ac = SecAccessControlCreateWithFlags(nil, kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly, flags, &error) else {
            throw KeyProviderError.Unavailable(reason: "access control")
        }
        return ac
    }

    private func enclaveQuery() -> [String: Any] {
        [kSecClass as String: kSecClassKey,
         kSecAttrApplicationTag as String: Data(tag.utf8),
         kSecAttrKeyType as String: kSecAttrKeyTypeECSECPrimeRandom]
    }

    private func enclaveKey(create: Bool) throws -> SecKey {
        var query = enclaveQuery()
        query[kSecReturnRef as String] = true
        if let context { query[kSecUseAuthenticationContext as String] = context }
        var item: CFTypeRef?
        let status = SecItemCopyMatching(query as CFDictionary, &item)
        if status == errSecSuccess, let item, CFGetTypeID(item) == SecKeyGetTypeID() {
            return (item as! SecKey) // swiftlint:disable:this force_cast  (type checked above)
        }
        if status == errSecInteractionNotAllowed { throw KeyProviderError.Unavailable(reason: "device locked") }
        guard create, status == errSecItemNotFound else {
            // The key is gone (app reinstalled, biometry changed): the store cannot be opened with it.
            throw status == errSecItemNotFound ? KeyProviderError.WrongKey : KeyProviderError.Unavailable(reason: "keychain \(status)")
        }
        let attributes: [String: Any] = [
            kSecAttrKeyType as String: kSecAttrKeyTypeECSECPrimeRandom,
            kSecAttrKeySizeInBits as String: 256,
            kSecAttrTokenID as String: kSecAttrTokenIDSecureEnclave,
            kSecPrivateKeyAttrs as String: [
                kSecAttrIsPermanent as String: true,
                kSecAttrApplicationTag as String: Data(tag.utf8),
                kSecAttrAccessControl as String: try accessControl(),
            ] as [String: Any],
        ]
        var error: Unmanaged<CFError>?
        guard let key = SecKeyCreateRandomKey(attributes as CFDictionary, &error) else {
            throw KeyProviderError.Unavailable(reason: "secure enclave key creation failed")
        }
        return key
    }

    // MARK: Keychain AES key (no Secure Enclave)

    private func passwordQuery() -> [String: Any] {
        [kSecClass as String: kSecClassGenericPassword,
         kSecAttrService as String: tag,
         kSecAttrAccount as String: "store-kek"]
    }

    private func keychainKey(create: Bool) throws -> SymmetricKey {
        var query = passwordQuery()
        query[kSecReturnData as String] = true
        if let context { query[kSecUseAuthenticationContext as String] = context }
        var item: CFTypeRef?
        let status = SecItemCopyMatching(query as CFDictionary, &item)
        if status == errSecSuccess, let data = item as? Data, data.count == 32 { return SymmetricKey(data: data) }
        if status == errSecInteractionNotAllowed { throw KeyProviderError.Unavailable(reason: "device locked") }
        guard create, status == errSecItemNotFound else {
            throw status == errSecItemNotFound ? KeyProviderError.WrongKey : KeyProviderError.Unavailable(reason: "keychain \(status)")
        }
        let key = SymmetricKey(size: .bits256)
        var add = passwordQuery()
        add[kSecValueData as String] = key.withUnsafeBytes { Data($0) }
        add[kSecAttrAccessControl as String] = try accessControl()
        let added = SecItemAdd(add as CFDictionary, nil)
        guard added == errSecSuccess else { throw KeyProviderError.Unavailable(reason: "keychain add \(added)") }
        return key
    }
}

/// The app's `KeySource`: the Keychain provider, optionally behind Face ID.
public struct KeychainKeys: KeySource {
    public let requireBiometry: Bool
    public init(requireBiometry: Bool) { self.requireBiometry = requireBiometry }
    public func deviceKey() throws -> KeyProvider { KeychainKeyProvider(requireBiometry: requireBiometry) }
}
