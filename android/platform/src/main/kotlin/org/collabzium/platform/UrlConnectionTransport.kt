// The app's HttpTransport on java.net.HttpURLConnection: on Android it is backed by the
// platform's own stack (and its network security config); no android.* imports, so the JVM
// journeys run this very class against a relay process.
package org.collabzium.platform

import java.io.IOException
import java.io.InputStream
import java.net.HttpURLConnection
import java.net.MalformedURLException
import java.net.SocketTimeoutException
import java.net.URL
import org.collabzium.HttpHeader
import org.collabzium.HttpRequest
import org.collabzium.HttpResponse
import org.collabzium.HttpTransport
import org.collabzium.TransportException

class UrlConnectionTransport(
    private val connectTimeoutMillis: Int = 10_000,
    private val readTimeoutMillis: Int = 30_000,
) : HttpTransport {

    override fun send(request: HttpRequest): HttpResponse {
        val url = try {
            URL(request.url)
        } catch (e: MalformedURLException) {
            throw TransportException.Unreachable("malformed url")
        }
        val conn = try {
            url.openConnection() as HttpURLConnection
        } catch (e: IOException) {
            throw TransportException.Unreachable(e.javaClass.simpleName)
        }
        try {
            conn.connectTimeout = connectTimeoutMillis
            conn.readTimeout = readTimeoutMillis
            conn.instanceFollowRedirects = false // a redirect would move signed requests elsewhere
            conn.useCaches = false
            conn.requestMethod = request.method
            for (h in request.headers) {
                if (h.name.equals("content-length", ignoreCase = true) || h.name.equals("host", ignoreCase = true)) continue
                conn.setRequestProperty(h.name, h.value)
            }
            if (request.body.isNotEmpty()) {
                conn.doOutput = true // DELETE /v1/channels/{id} carries a body too
                conn.setFixedLengthStreamingMode(request.body.size)
                conn.outputStream.use { it.write(request.body) }
            }
            val status = conn.responseCode
            val body = (if (status >= 400) conn.errorStream else conn.inputStream)?.use(::readAll) ?: ByteArray(0)
            val headers = ArrayList<HttpHeader>()
            for ((name, values) in conn.headerFields) {
                if (name == null) continue // the status line
                for (v in values) headers.add(HttpHeader(name, v))
            }
            return HttpResponse(status.toUShort(), headers, body)
        } catch (e: SocketTimeoutException) {
            throw TransportException.Timeout()
        } catch (e: IOException) {
            // The class name only: messages can carry host names.
            throw TransportException.Unreachable(e.javaClass.simpleName)
        } finally {
            conn.disconnect()
        }
    }

    private fun readAll(input: InputStream): ByteArray = input.readBytes()
}
