#!/usr/bin/env bash
# NEEDS A MAC (Xcode command-line tools + rustup). Never run on the Linux build machines, and
# not run by scripts/test-all.sh: it has not been run as part of this repository's CI.
#
# Builds the Rust core for iOS and packages it for ios/Package.swift and ios/project.yml:
#   1. cargo build -p collabzium-ffi --release for aarch64-apple-ios (devices),
#      aarch64-apple-ios-sim and x86_64-apple-ios (simulators), and for macOS
#      (aarch64/x86_64-apple-darwin, so `swift test` runs natively on the Mac too);
#   2. uniffi-bindgen generates Collabzium.swift, CollabziumFFI.h and the module map from the
#      device library;
#   3. lipo merges the two simulator slices (and the two macOS slices) into one each;
#   4. xcodebuild -create-xcframework makes ios/Frameworks/CollabziumFFI.xcframework (static
#      libraries + header + module.modulemap), which Package.swift uses as its binary target on
#      Apple platforms;
#   5. Collabzium.swift goes to ios/Sources/Collabzium (generated: not committed).
#
#   ios/build-xcframework.sh            release build (what an app ships)
#   PROFILE=debug ios/build-xcframework.sh
set -euo pipefail

[[ "$(uname -s)" == Darwin ]] || { echo "build-xcframework.sh needs macOS with Xcode (xcodebuild, lipo)" >&2; exit 2; }
for tool in cargo rustup xcodebuild lipo; do
    command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 2; }
done

IOS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$IOS_DIR/.." && pwd)"
PROFILE="${PROFILE:-release}"
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO_ROOT/target}"
DEVICE=aarch64-apple-ios
SIMS=(aarch64-apple-ios-sim x86_64-apple-ios)
MACS=(aarch64-apple-darwin x86_64-apple-darwin)
LIB=libcollabzium_ffi.a
OUT="$IOS_DIR/Frameworks/CollabziumFFI.xcframework"
WORK="$TARGET_DIR/xcframework"
# The oldest iOS the app supports (project.yml's deploymentTarget): the libraries must match.
export IPHONEOS_DEPLOYMENT_TARGET="${IPHONEOS_DEPLOYMENT_TARGET:-17.0}"
export MACOSX_DEPLOYMENT_TARGET="${MACOSX_DEPLOYMENT_TARGET:-14.0}"

cargo_flags=(-p collabzium-ffi --lib)
[[ "$PROFILE" == release ]] && cargo_flags+=(--release)
profile_dir=$([[ "$PROFILE" == release ]] && echo release || echo debug)

rustup target add "$DEVICE" "${SIMS[@]}" "${MACS[@]}"
for t in "$DEVICE" "${SIMS[@]}" "${MACS[@]}"; do
    echo "==> cargo build ${cargo_flags[*]} --target $t"
    (cd "$REPO_ROOT" && cargo build "${cargo_flags[@]}" --target "$t")
done

rm -rf "$WORK" "$OUT"
mkdir -p "$WORK/headers" "$WORK/gen" "$WORK/sim" "$WORK/macos"

echo "==> uniffi-bindgen (Swift)"
(cd "$REPO_ROOT" && cargo run -q -p collabzium-ffi --bin uniffi-bindgen -- generate \
    --library "$TARGET_DIR/$DEVICE/$profile_dir/$LIB" --language swift --out-dir "$WORK/gen")
cp "$WORK/gen/CollabziumFFI.h" "$WORK/headers/"
cp "$WORK/gen/CollabziumFFI.modulemap" "$WORK/headers/module.modulemap"

echo "==> lipo"
sim_libs=() mac_libs=()
for t in "${SIMS[@]}"; do sim_libs+=("$TARGET_DIR/$t/$profile_dir/$LIB"); done
for t in "${MACS[@]}"; do mac_libs+=("$TARGET_DIR/$t/$profile_dir/$LIB"); done
lipo -create "${sim_libs[@]}" -output "$WORK/sim/$LIB"
lipo -create "${mac_libs[@]}" -output "$WORK/macos/$LIB"

echo "==> xcodebuild -create-xcframework"
mkdir -p "$(dirname "$OUT")"
xcodebuild -create-xcframework \
    -library "$TARGET_DIR/$DEVICE/$profile_dir/$LIB" -headers "$WORK/headers" \
    -library "$WORK/sim/$LIB" -headers "$WORK/headers" \
    -library "$WORK/macos/$LIB" -headers "$WORK/headers" \
    -output "$OUT"

mkdir -p "$IOS_DIR/Sources/Collabzium"
cp "$WORK/gen/Collabzium.swift" "$IOS_DIR/Sources/Collabzium/Collabzium.swift"
echo "==> $OUT"
echo "next: cd ios && swift test  (macOS slice; relay: COLLABZIUM_BIN=<target>/debug/collabzium COLLABZIUM_PROGRAMS_DIR=cli/data/programs)"
echo "      xcodegen generate && open Collabzium.xcodeproj  (the app, on a simulator or device)"
