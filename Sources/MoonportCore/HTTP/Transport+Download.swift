import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

// The resumable download of `stream_to`.

extension Transport {
    /// Streams a 2xx body to a temporary file beside `path`, then fsyncs and
    /// renames it. A dropped connection is resumed with `Range` (and
    /// `If-Range`) when the server said `Accept-Ranges: bytes`; a body
    /// shorter than its Content-Length is an error; nothing is left under
    /// `path` unless the whole body arrived.
    func download(
        _ first: HTTPClientResponse, url: String, method: String, headers: [(name: String, value: String)],
        spec: HTTPRequestSpec, to path: String
    ) async throws -> HTTPResult {
        let file = try AtomicOutput(path: path, function: "http.request (stream_to)")
        defer { file.abort() }  // nothing once committed
        let acceptsRanges = first.headers.first(name: "accept-ranges")?.lowercased().contains("bytes") == true
        let validator = first.headers.first(name: "etag") ?? first.headers.first(name: "last-modified")
        var expected = first.headers.first(name: "content-length").flatMap { Int64($0) }
        var response = first
        var written: Int64 = 0
        var resumes = 0
        // The progress of the download: bytes and rate (--progress).
        let label = "downloading \(Redaction.url(url))"
        let shown = ProgressReporter.shared.begin(label, announce: false)
        defer { ProgressReporter.shared.end(shown) }
        let startedAt = ProgressReporter.now()
        var shownAt = startedAt
        while true {
            do {
                for try await chunk in response.body {
                    try chunk.withUnsafeReadableBytes { try file.write($0) }
                    written += Int64(chunk.readableBytes)
                    let now = ProgressReporter.now()
                    if now - shownAt >= 0.5 {
                        shownAt = now
                        ProgressReporter.shared.update(shown, ProgressReporter.transferText(
                            label, bytes: written, of: expected, seconds: now - startedAt))
                    }
                }
                if let expected, written != expected {
                    throw HTTPFailure(
                        .network, "\(method) \(Redaction.url(url)): the body was cut short: \(written) of \(expected) bytes",
                        outcome: .connectionFailed("cut short"))
                }
                break
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                let ended = error is HTTPFailure || error is any LocalFailure ? String(describing: error) : Self.plainWords(error)
                guard acceptsRanges, resumes + 1 < max(spec.retry.attempts, 1) else {
                    throw HTTPFailure(
                        .network,
                        "\(method) \(Redaction.url(url)): the download broke off after \(written) bytes (\(ended))"
                            + (acceptsRanges ? " and could not be resumed" : "; the server does not accept Range requests, so it was not resumed"),
                        outcome: .connectionFailed(ended))
                }
                resumes += 1
                LogSink.shared.write(level: .debug, "\(method) \(Redaction.url(url)): resuming the download at byte \(written) (\(ended))")
                var request = HTTPClientRequest(url: url)
                request.method = HTTPMethod(rawValue: method)
                for h in headers { request.headers.add(name: h.name, value: h.value) }
                request.headers.replaceOrAdd(name: "Range", value: "bytes=\(written)-")
                if let validator { request.headers.replaceOrAdd(name: "If-Range", value: validator) }
                response = try await client.execute(request, timeout: .hours(24 * 7))
                let status = Int(response.status.code)
                let range = response.headers.first(name: "content-range") ?? ""
                if status == 206, range.hasPrefix("bytes \(written)-") {
                    if let total = range.split(separator: "/").last.flatMap({ Int64($0) }) { expected = total }
                    continue
                }
                if status == 200 {  // the resource changed or the server ignored the range: start over
                    try file.restart()
                    written = 0
                    expected = response.headers.first(name: "content-length").flatMap { Int64($0) }
                    continue
                }
                var failure = HTTPFailure(
                    .network, "\(method) \(Redaction.url(url)): resuming the download at byte \(written) was answered \(status)",
                    outcome: .connectionFailed("resume"))
                failure.status = status
                throw failure
            }
        }
        try file.commit()
        var result = HTTPResult(
            status: Int(first.status.code), reason: first.status.reasonPhrase,
            headers: first.headers.map { (name: $0.name, value: $0.value) }, body: [], url: url, attempts: 1)
        result.streamedBytes = written
        result.resumes = resumes
        return result
    }
}
