// Where the store lives, and its Data Protection class.
import Foundation

public enum StoreFiles {
    /// Application Support/Collabzium, excluded from backups (the store is bound to this device's
    /// key anyway), protected with class Complete: unreadable while the phone is locked.
    public static func directory() throws -> URL {
        let base = try FileManager.default.url(for: .applicationSupportDirectory, in: .userDomainMask,
                                               appropriateFor: nil, create: true)
        var dir = base.appendingPathComponent("Collabzium", isDirectory: true)
        // New files (SQLite's -wal and -shm too) inherit the directory's protection class.
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true,
                                                attributes: [.protectionKey: FileProtectionType.complete])
        try FileManager.default.setAttributes([.protectionKey: FileProtectionType.complete], ofItemAtPath: dir.path)
        var values = URLResourceValues()
        values.isExcludedFromBackup = true
        try dir.setResourceValues(values)
        return dir
    }

    public static func storePath() throws -> String {
        try directory().appendingPathComponent("collabzium.db").path
    }

    /// After the core created or opened the store: make sure every file of it is Complete.
    public static func protect(storePath: String) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let path = storePath + suffix
            guard FileManager.default.fileExists(atPath: path) else { continue }
            try? FileManager.default.setAttributes([.protectionKey: FileProtectionType.complete], ofItemAtPath: path)
        }
    }
}
