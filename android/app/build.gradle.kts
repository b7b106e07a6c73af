// NOT BUILT ON THE PROJECT'S CI MACHINES; scripts/build-apk.sh builds the same sources without
// Gradle. Same source directories, minSdk and targetSdk as the hand-built APK. This build adds
// what the machines here cannot: the core as .so files (cargo-ndk) and JNA's Android AAR.
plugins {
    id("com.android.application")
    id("org.jetbrains.kotlin.android")
}

val repoRoot = rootDir.parentFile
val generatedKotlin = layout.buildDirectory.dir("generated/uniffi")
val jniLibsDir = layout.buildDirectory.dir("rustJniLibs")

android {
    namespace = "org.collabzium.app"
    compileSdk = 34
    defaultConfig {
        applicationId = "org.collabzium.app"
        minSdk = 24
        targetSdk = 34
        versionCode = 1
        versionName = "0.1.0"
    }
    sourceSets["main"].apply {
        manifest.srcFile("src/main/AndroidManifest.xml")
        res.srcDirs("src/main/res")
        java.srcDirs(
            "src/main/kotlin",
            "../app-logic/src/main/kotlin",
            "../platform/src/main/kotlin",
            generatedKotlin,
        )
        jniLibs.srcDirs(jniLibsDir)
        assets.srcDirs(layout.buildDirectory.dir("programAssets"))
    }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_1_8
        targetCompatibility = JavaVersion.VERSION_1_8
    }
    kotlinOptions { jvmTarget = "1.8" }
}

dependencies {
    implementation("net.java.dev.jna:jna:5.14.0@aar")
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.9.0")
}

// The core for the three ABIs, then the Kotlin bindings from the built library.
val cargoNdk by tasks.registering(Exec::class) {
    workingDir = repoRoot
    commandLine(
        "cargo", "ndk", "-t", "arm64-v8a", "-t", "armeabi-v7a", "-t", "x86_64",
        "-o", jniLibsDir.get().asFile.path, "build", "--release", "-p", "collabzium-ffi",
    )
}
val uniffiKotlin by tasks.registering(Exec::class) {
    dependsOn(cargoNdk)
    workingDir = repoRoot
    commandLine(
        "cargo", "run", "-p", "collabzium-ffi", "--bin", "uniffi-bindgen", "--", "generate",
        "--library", jniLibsDir.get().file("arm64-v8a/libcollabzium_ffi.so").asFile.path,
        "--language", "kotlin", "--no-format", "--config", "android/uniffi-android.toml",
        "--out-dir", generatedKotlin.get().asFile.path,
    )
}
// The sample programs as assets/programs/*.json, as scripts/build-apk.sh packs them.
val programAssets by tasks.registering(Copy::class) {
    from(repoRoot.resolve("cli/data/programs")) { include("*.json") }
    into(layout.buildDirectory.dir("programAssets/programs"))
}
tasks.named("preBuild") { dependsOn(uniffiKotlin, programAssets) }
