// NOT BUILT ON THE PROJECT'S CI MACHINES (no Google Maven there). For Android Studio on a
// machine with the Android SDK, the NDK and cargo-ndk; see README.md, "Android".
pluginManagement {
    repositories { google(); mavenCentral(); gradlePluginPortal() }
}
dependencyResolutionManagement {
    repositories { google(); mavenCentral() }
}
rootProject.name = "collabzium-android"
include(":app")
project(":app").projectDir = file("app")
