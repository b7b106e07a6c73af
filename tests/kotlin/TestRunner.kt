// Minimal test runner for the Kotlin binding tests (there is no JUnit here).
//
// Write a test file anywhere under tests/kotlin/ with a class or object that extends
// TestSuite and registers cases with test("name") { ... }. The runner finds every
// TestSuite subclass in the compiled jar by itself; no registry to edit.
// See tests/README.md.
package org.collabzium.tests

import java.io.File
import java.nio.file.Files
import java.util.concurrent.ExecutionException
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import java.util.concurrent.TimeoutException
import java.util.jar.JarFile
import kotlin.system.exitProcess

/** Base class for a group of tests. Subclass it with a top-level `object` or a class with a no-arg constructor. */
abstract class TestSuite {
    internal val cases = mutableListOf<Pair<String, TestContext.() -> Unit>>()

    /** Per-test timeout; a test that runs longer is reported as failed. */
    open val timeoutSeconds: Long = 120

    /** Register a test case. The body runs with a fresh [TestContext]. */
    protected fun test(name: String, body: TestContext.() -> Unit) {
        cases += name to body
    }
}

/** Per-test helpers. Everything registered here is cleaned up after the test, pass or fail. */
class TestContext internal constructor() {
    private val cleanups = ArrayDeque<() -> Unit>()

    /** A new empty directory, deleted recursively after the test. */
    fun tempDir(prefix: String = "collabzium-test-"): File {
        val dir = Files.createTempDirectory(prefix).toFile()
        defer { dir.deleteRecursively() }
        return dir
    }

    /** Run [action] after the test (last registered runs first). */
    fun defer(action: () -> Unit) {
        cleanups.addFirst(action)
    }

    internal fun runCleanups(): Throwable? {
        var first: Throwable? = null
        while (cleanups.isNotEmpty()) {
            try {
                cleanups.removeFirst().invoke()
            } catch (t: Throwable) {
                if (first == null) first = t
            }
        }
        return first
    }
}

private fun classNamesInClasspathEntry(location: File): List<String> {
    fun toClassName(path: String) = path.removeSuffix(".class").replace('/', '.').replace('\\', '.')
    return if (location.isDirectory) {
        location.walkTopDown()
            .filter { it.isFile && it.name.endsWith(".class") }
            .map { toClassName(it.relativeTo(location).path) }
            .toList()
    } else {
        JarFile(location).use { jar ->
            jar.entries().toList()
                .map { it.name }
                .filter { it.endsWith(".class") && !it.startsWith("META-INF/") }
                .map(::toClassName)
        }
    }
}

private fun discoverSuites(): List<Pair<String, Result<TestSuite>>> {
    val location = File(TestSuite::class.java.protectionDomain.codeSource.location.toURI())
    val loader = TestSuite::class.java.classLoader
    return classNamesInClasspathEntry(location)
        .filter { !it.contains('$') } // skip lambdas, companions, nested classes
        .sorted()
        .mapNotNull { name ->
            val cls = try {
                Class.forName(name, false, loader)
            } catch (e: Throwable) {
                return@mapNotNull null
            }
            if (!TestSuite::class.java.isAssignableFrom(cls) || java.lang.reflect.Modifier.isAbstract(cls.modifiers)) {
                return@mapNotNull null
            }
            cls.simpleName to runCatching {
                val instanceField = cls.declaredFields.firstOrNull {
                    it.name == "INSTANCE" && java.lang.reflect.Modifier.isStatic(it.modifiers)
                }
                if (instanceField != null) {
                    instanceField.get(null) as TestSuite // Kotlin `object`
                } else {
                    cls.getDeclaredConstructor().newInstance() as TestSuite
                }
            }
        }
}

private fun describe(t: Throwable): String {
    val cause = if ((t is ExecutionException || t is java.lang.reflect.InvocationTargetException) && t.cause != null) t.cause!! else t
    return "${cause::class.java.name}: ${cause.message ?: "(no message)"}"
}

/**
 * Arguments (or the COLLABZIUM_TEST_FILTER environment variable, comma-separated) are
 * substrings; only tests whose full name "Suite.test name" contains one of them run.
 */
fun main(args: Array<String>) {
    val filters = (args.toList() + (System.getenv("COLLABZIUM_TEST_FILTER") ?: "").split(','))
        .map { it.trim() }
        .filter { it.isNotEmpty() }
    var passed = 0
    var failed = 0

    fun fail(name: String, t: Throwable) {
        failed++
        println("FAIL $name: ${describe(t).lineSequence().first()}")
        val cause = if (t is ExecutionException && t.cause != null) t.cause!! else t
        // The test's own frames: drop assertion-library internals and the runner's machinery.
        cause.stackTrace
            .filterNot { it.className.startsWith("kotlin.test.") }
            .takeWhile { !it.className.startsWith("java.util.concurrent.") && it.className != "org.collabzium.tests.TestRunnerKt" }
            .take(15)
            .forEach { println("        at $it") }
        System.out.flush()
    }

    for ((suiteName, suite) in discoverSuites()) {
        val instance = suite.getOrElse {
            fail("$suiteName.<init>", it)
            null
        } ?: continue
        for ((caseName, body) in instance.cases) {
            val fullName = "$suiteName.$caseName"
            if (filters.isNotEmpty() && filters.none { fullName.contains(it) }) continue
            // Each test runs on its own daemon thread so a hung test cannot block the run.
            val executor = Executors.newSingleThreadExecutor { r ->
                Thread(r, "test: $fullName").apply { isDaemon = true }
            }
            val context = TestContext()
            val start = System.nanoTime()
            try {
                val future = executor.submit<Unit> { context.body() }
                try {
                    future.get(instance.timeoutSeconds, TimeUnit.SECONDS)
                } catch (e: TimeoutException) {
                    future.cancel(true)
                    throw AssertionError("timed out after ${instance.timeoutSeconds} s")
                }
                val cleanupError = context.runCleanups()
                if (cleanupError != null) throw AssertionError("cleanup failed: ${describe(cleanupError)}", cleanupError)
                passed++
                val ms = (System.nanoTime() - start) / 1_000_000
                println("PASS $fullName (${ms} ms)")
            } catch (t: Throwable) {
                context.runCleanups()
                fail(fullName, t)
            } finally {
                executor.shutdownNow()
            }
            System.out.flush()
        }
    }
    if (passed + failed == 0) {
        println("kotlin: no tests found")
        failed = 1
    }
    println("kotlin: $passed passed, $failed failed")
    System.out.flush()
    exitProcess(if (failed > 0) 1 else 0)
}
