#!/usr/bin/env bash
# Builds, aligns and signs the debug APK without Gradle, then checks it:
#
#   scripts/build-apk.sh            -> target/android/collabzium-debug.apk
#
# Sources: the generated UniFFI Kotlin (Android config: android/uniffi-android.toml),
# android/app-logic, android/platform, android/app (manifest, res, Activities).
# Tools: scripts/ensure-android-tools.sh (Debian's android.jar 23, aapt2, dx, ProGuard,
# zipalign, apksigner, dexdump) and kotlinc from the npm kotlin-compiler package.
# Checks: apksigner verify; aapt dump badging (package, minSdk >= 24, launchable activity,
# permissions); no invoke-custom in the dex; the platform classes are in the dex.
#
# The APK carries no native libraries: there is no NDK here, so no arm64 libcollabzium_ffi.so
# and no Android libjnidispatch.so. It installs, but the core calls need the Gradle build
# (README, "Android"). Environment: COLLABZIUM_CACHE, CARGO_TARGET_DIR, COLLABZIUM_JNA_JAR.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${COLLABZIUM_CACHE:-${HOME:-/root}/.cache/collabzium}"
KOTLIN_HOME="${KOTLIN_HOME:-$CACHE/kotlin/node_modules/kotlin-compiler}"
JNA_JAR="${COLLABZIUM_JNA_JAR:-/usr/share/java/jna.jar}"
CARGO_TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
OUT="$REPO/build/android"
APK="$REPO/target/android/collabzium-debug.apk"
PACKAGE=org.collabzium.app
MIN_SDK=24

step() { printf 'build-apk: [%3ss] %s\n' "$SECONDS" "$*" >&2; }
die() { printf 'build-apk: error: %s\n' "$*" >&2; exit 1; }

[[ -x "$KOTLIN_HOME/bin/kotlinc" ]] || die "kotlinc not found in $KOTLIN_HOME (scripts/test-all.sh --setup-only --only kotlin installs it)"
[[ -f "$JNA_JAR" ]] || die "$JNA_JAR missing (Debian package libjna-java)"
command -v javac >/dev/null || die "javac not found (a JDK is needed for R.java and keytool)"
ENV_FILE="$("$REPO/scripts/ensure-android-tools.sh" "$CACHE")"
# shellcheck disable=SC1090
source "$ENV_FILE"
export LD_LIBRARY_PATH="$ANDROID_TOOLS_LD_PATH${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

rm -rf "$OUT"
mkdir -p "$OUT" "$(dirname "$APK")"

# ---- 1. the UniFFI Kotlin, generated with the Android config (no java.lang.ref.Cleaner)
step "cargo build -p collabzium-ffi; uniffi-bindgen (android/uniffi-android.toml)"
(cd "$REPO" && cargo build -q -p collabzium-ffi)
"$CARGO_TARGET/debug/uniffi-bindgen" generate --library "$CARGO_TARGET/debug/libcollabzium_ffi.so" \
    --language kotlin --no-format --config "$REPO/android/uniffi-android.toml" --out-dir "$OUT/bindings" >/dev/null
if grep -rq 'java.lang.ref.Cleaner' "$OUT/bindings"; then die "generated Kotlin still uses java.lang.ref.Cleaner (config not applied)"; fi

# ---- 2. resources: compile, link against android.jar 23, R.java
step "aapt2 compile + link"
"$AAPT2" compile --dir "$REPO/android/app/src/main/res" -o "$OUT/res.zip"
mkdir -p "$OUT/gen"
# android:networkSecurityConfig is API 24, unknown to android.jar 23, so aapt2 cannot link it.
# This build swaps it for android:usesCleartextTraffic="false" (API 23): no cleartext at all,
# not even loopback. The Gradle build links the manifest as written (README, "Android").
grep -q 'android:networkSecurityConfig="@xml/network_security_config"' "$REPO/android/app/src/main/AndroidManifest.xml" ||
    die "the manifest no longer names the network security config; update this step"
sed 's|android:networkSecurityConfig="@xml/network_security_config"|android:usesCleartextTraffic="false"|' \
    "$REPO/android/app/src/main/AndroidManifest.xml" >"$OUT/AndroidManifest.xml"
# The sample programs, for the therapist's "assign a program" (assets/programs/*.json).
mkdir -p "$OUT/assets/programs"
cp "$REPO"/cli/data/programs/*.json "$OUT/assets/programs/"
"$AAPT2" link -I "$ANDROID_JAR" --manifest "$OUT/AndroidManifest.xml" -A "$OUT/assets" \
    --min-sdk-version "$MIN_SDK" --java "$OUT/gen" -o "$OUT/base.apk" "$OUT/res.zip"
mkdir -p "$OUT/r-classes"
javac -nowarn -source 8 -target 8 -bootclasspath "$ANDROID_JAR" -d "$OUT/r-classes" \
    "$(find "$OUT/gen" -name R.java)" 2>&1 | grep -v '^warning: \[options\]' >&2 || true
[[ -f "$OUT/r-classes/org/collabzium/app/R.class" ]] || die "R.java did not compile"

# ---- 3. Kotlin against android.jar (no JDK classes: what is not on Android does not compile)
mapfile -t SOURCES < <(
    find "$OUT/bindings" -name '*.kt'
    find "$REPO/android/app-logic/src/main" "$REPO/android/platform/src/main" "$REPO/android/app/src/main" -name '*.kt' | sort
)
COROUTINES="$KOTLIN_HOME/lib/kotlinx-coroutines-core-jvm.jar"
STDLIB="$KOTLIN_HOME/lib/kotlin-stdlib.jar"
step "kotlinc -no-jdk against android.jar (${#SOURCES[@]} files)"
"$KOTLIN_HOME/bin/kotlinc" -no-jdk -no-reflect -jvm-target 1.8 -nowarn \
    -classpath "$ANDROID_JAR:$JNA_JAR:$COROUTINES:$OUT/r-classes" \
    -d "$OUT/app-classes.jar" "${SOURCES[@]}"
(cd "$OUT/r-classes" && jar uf "$OUT/app-classes.jar" .)

# ---- 4. ProGuard: Java 7 bytecode (no invokedynamic for dx), and drop unused library code
step "proguard -target 1.7"
cat >"$OUT/proguard.pro" <<EOF
-injars $OUT/app-classes.jar
-injars $STDLIB(!META-INF/**)
-injars $COROUTINES(!META-INF/**)
-injars $JNA_JAR(!META-INF/**,!**.so,!**.dll,!**.jnilib,!**.a)
-outjars $OUT/shrunk.jar
-libraryjars $ANDROID_JAR
-target 1.7
-dontobfuscate
-dontoptimize
-dontpreverify
-dontnote
-dontwarn **
-ignorewarnings
# The app's components are named in the manifest; the bindings and JNA are reached by reflection.
-keep class org.collabzium.** { *; }
-keep class com.sun.jna.** { *; }
-keep class kotlinx.coroutines.internal.MainDispatcherFactory
-keepattributes *Annotation*,Signature,InnerClasses,EnclosingMethod
EOF
java -jar "$PROGUARD_JAR" @"$OUT/proguard.pro" >"$OUT/proguard.log" 2>&1 ||
    { tail -n 30 "$OUT/proguard.log" >&2; die "proguard failed (log: $OUT/proguard.log)"; }

# ---- 5. dex, package, align, sign
step "dx --min-sdk-version=$MIN_SDK"
mkdir -p "$OUT/dex"
java -jar "$DX_JAR" --dex --min-sdk-version="$MIN_SDK" --multi-dex --output="$OUT/dex" "$OUT/shrunk.jar"
cp "$OUT/base.apk" "$OUT/unaligned.apk"
(cd "$OUT/dex" && zip -q -X "$OUT/unaligned.apk" classes*.dex)
step "zipalign + apksigner"
"$ZIPALIGN" -f -p 4 "$OUT/unaligned.apk" "$OUT/aligned.apk"
KEYSTORE="$CACHE/android-tools/debug.keystore"
if [[ ! -f "$KEYSTORE" ]]; then
    # A debug key of this machine, outside the checkout; never used for a release.
    keytool -genkeypair -noprompt -keystore "$KEYSTORE.tmp" -storepass android -keypass android \
        -alias androiddebugkey -keyalg RSA -keysize 2048 -validity 10000 \
        -dname "CN=Collabzium Debug,O=Collabzium,C=US" >/dev/null 2>&1
    mv "$KEYSTORE.tmp" "$KEYSTORE"
fi
java -jar "$APKSIGNER_JAR" sign --ks "$KEYSTORE" --ks-pass pass:android --ks-key-alias androiddebugkey \
    --key-pass pass:android --min-sdk-version "$MIN_SDK" --out "$APK" "$OUT/aligned.apk"

# ---- 6. checks
step "checks"
fail=0
check() { if eval "$2"; then echo "build-apk: ok   $1"; else echo "build-apk: FAIL $1"; fail=1; fi; }
verified=1
java -jar "$APKSIGNER_JAR" verify --min-sdk-version "$MIN_SDK" "$APK" >"$OUT/verify.log" 2>&1 || verified=0
check "apksigner verify" '[[ $verified -eq 1 ]]'
"$AAPT" dump badging "$APK" >"$OUT/badging.txt" 2>/dev/null || "$AAPT2" dump badging "$APK" >"$OUT/badging.txt"
check "package $PACKAGE" "grep -q \"^package: name='$PACKAGE'\" '$OUT/badging.txt'"
sdk="$(sed -nE "s/^(minSdkVersion|sdkVersion):'([0-9]+)'.*/\2/p" "$OUT/badging.txt" | head -n 1)"
check "minSdk ${sdk:-?} >= $MIN_SDK" "[[ -n '$sdk' && '$sdk' -ge $MIN_SDK ]]"
check "launchable activity LaunchActivity" "grep -q \"^launchable-activity: name='$PACKAGE.LaunchActivity'\" '$OUT/badging.txt'"
for perm in INTERNET ACCESS_NETWORK_STATE RECEIVE_BOOT_COMPLETED POST_NOTIFICATIONS CAMERA USE_FINGERPRINT; do
    check "permission $perm" "grep -q \"uses-permission: name='android.permission.$perm'\" '$OUT/badging.txt'"
done
"$DEXDUMP" -d "$OUT"/dex/classes*.dex >"$OUT/dexdump.txt" 2>/dev/null
check "no invoke-custom in the dex" "! grep -q 'invoke-custom' '$OUT/dexdump.txt'"
for cls in org/collabzium/platform/KeystoreKeyProvider org/collabzium/platform/AlarmNotificationScheduler \
    org/collabzium/platform/SyncJobService org/collabzium/platform/UrlConnectionTransport \
    org/collabzium/platform/UnifiedPushReceiver org/collabzium/platform/FingerprintUnlock org/collabzium/app/logic/WakeupHandler \
    org/collabzium/app/LaunchActivity org/collabzium/app/logic/CheckinPresenter; do
    check "dex has ${cls##*/}" "grep -q \"Class descriptor  : 'L$cls;'\" '$OUT/dexdump.txt'"
done
{ "$AAPT" dump xmltree "$APK" AndroidManifest.xml 2>/dev/null || "$AAPT2" dump xmltree --file AndroidManifest.xml "$APK"; } >"$OUT/manifest-tree.txt" 2>&1 || true
for action in NEW_ENDPOINT MESSAGE UNREGISTERED; do
    check "UnifiedPush receiver takes $action" "grep -q 'org.unifiedpush.android.connector.$action' '$OUT/manifest-tree.txt'"
done
unzip -l "$APK" >"$OUT/apk-files.txt"
check "sample programs in assets" "grep -q 'assets/programs/low-mood-8w.json' '$OUT/apk-files.txt'"
check "no native libraries (none can be built here)" "! grep -q ' lib/' '$OUT/apk-files.txt'"
[[ $fail -eq 0 ]] || die "APK checks failed"
echo "build-apk: $APK ($(stat -c %s "$APK") bytes, $(ls "$OUT"/dex/classes*.dex | wc -l) dex file(s), no native libraries)"
