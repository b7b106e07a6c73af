// swift-tools-version:6.0
// The iOS app's testable half (issue 13, docs/adr/0010-ios-app.md):
//   Collabzium          the UniFFI-generated bindings. Not committed: scripts/test-all.sh (Linux)
//                       or build-xcframework.sh (macOS) puts Collabzium.swift into Sources/Collabzium.
//   CollabziumFFI       the C side: on Linux the generated header and module map (staged into
//                       Sources/CollabziumFFI) plus -L to the host-built libcollabzium_ffi.so;
//                       on Apple platforms the XCFramework that build-xcframework.sh produces.
//   CollabziumAppCore   one @Observable state holder per screen (the names and states of the
//                       Android ones), the URLSession transport, the key-store and notification
//                       protocols, locale formatting. No SwiftUI/UIKit: it builds and tests on Linux.
//   CollabziumLinuxShim Linux only: defines swift::threading::fatal, which libswiftObservation.so
//                       of swiftlang 6.0.3 needs and does not find (fixed in 6.2).
// The SwiftUI app (ios/App) is not part of this package: ios/project.yml builds it on a Mac.
import PackageDescription

#if os(Linux)
let ffi: Target = .systemLibrary(name: "CollabziumFFI", path: "Sources/CollabziumFFI")
let ffiLinker: [LinkerSetting] = [.linkedLibrary("collabzium_ffi")]
let platformTargets: [Target] = [
    .target(name: "CollabziumLinuxShim", path: "Sources/CollabziumLinuxShim"),
]
let appCoreExtraDeps: [Target.Dependency] = ["CollabziumLinuxShim"]
#else
let ffi: Target = .binaryTarget(name: "CollabziumFFI", path: "Frameworks/CollabziumFFI.xcframework")
let ffiLinker: [LinkerSetting] = []
let platformTargets: [Target] = []
let appCoreExtraDeps: [Target.Dependency] = []
#endif

let package = Package(
    name: "CollabziumApp",
    platforms: [.iOS(.v17), .macOS(.v14)],
    products: [
        .library(name: "CollabziumAppCore", targets: ["CollabziumAppCore"]),
    ],
    targets: [
        ffi,
        .target(
            name: "Collabzium",
            dependencies: ["CollabziumFFI"],
            path: "Sources/Collabzium",
            linkerSettings: ffiLinker
        ),
        .target(
            name: "CollabziumAppCore",
            dependencies: ["Collabzium"] + appCoreExtraDeps,
            path: "Sources/CollabziumAppCore",
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .testTarget(
            name: "CollabziumAppCoreTests",
            dependencies: ["CollabziumAppCore", "Collabzium"],
            path: "Tests/CollabziumAppCoreTests",
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ] + platformTargets
)
