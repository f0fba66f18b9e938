import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

// The resumable download of `stream_to`. A response delegate (DownloadSink)
// takes the body on the event loop, without a task hop per chunk, into 1 MiB
// slots that a thread of NIOThreadPool writes with one write(2) each while
// the event loop reads on; the reading waits only when the writer is 8 MiB
// behind.

extension Transport {
    /// How a download's first exchange ended: the body is in the file, or the
    /// answer is not a body to keep (a redirect, an error status) and was
    /// read into memory like any other answer.
    enum DownloadOutcome {
        case finished(HTTPResult)
        case answer(CollectedResponse)
    }

    /// Sends the request and streams a 2xx body to a temporary file beside
    /// `path`, then fsyncs it once and renames it. A dropped connection is
    /// resumed with `Range` (and `If-Range`) when the server said
    /// `Accept-Ranges: bytes`; a body shorter than its Content-Length is an
    /// error; nothing is left under `path` unless the whole body arrived.
    func download(
        url: String, method: String, headers: [(name: String, value: String)], body: [UInt8]?, upload: Upload?,
        spec: HTTPRequestSpec, to path: String, deadline: NIODeadline
    ) async throws -> DownloadOutcome {
        let file = try AtomicOutput(path: path, function: "http.request (stream_to)")
        defer { file.abort() }  // nothing once committed
        // The progress of the download: bytes and rate (--progress).
        let label = "downloading \(Redaction.url(url))"
        let shown = ProgressReporter.shared.begin(label, announce: false)
        defer { ProgressReporter.shared.end(shown) }
        let progress = DownloadSink.Progress(id: shown, label: label, startedAt: ProgressReporter.now())

        var first: HTTPResponseHead?
        var acceptsRanges = false
        var validator: String?
        var expected: Int64?
        var written: Int64 = 0
        var resumes = 0
        while true {
            var wire = HTTPHeaders(headers.map { ($0.name, $0.value) })
            if first != nil {
                wire.replaceOrAdd(name: "Range", value: "bytes=\(written)-")
                if let validator { wire.replaceOrAdd(name: "If-Range", value: validator) }
            }
            let eventLoop = client.eventLoopGroup.any()
            let request = try HTTPClient.Request(
                url: url, method: HTTPMethod(rawValue: method), headers: wire, body: Self.legacyBody(body, upload, on: eventLoop))
            let sink = DownloadSink(
                file: file, eventLoop: eventLoop, resumeAt: first == nil ? nil : written, expected: expected, progress: progress)
            let ended = await attempt(request, sink: sink, deadline: deadline)
            if Task.isCancelled { throw CancellationError() }
            if let failure = sink.writeFailure { throw failure }  // the disk's fault: not resumed
            guard let head = sink.head else {
                // No answer at all: the retry loop judges the first request, and a
                // failed resume ends the download, as any failure to connect.
                if case .failure(let error) = ended { throw error }
                throw HTTPFailure(.network, "\(method) \(Redaction.url(url)): no answer", outcome: .connectionFailed("no answer"))
            }
            let status = Int(head.status.code)
            if first == nil {
                guard sink.toFile else {
                    // A redirect or an error status: the caller reads it.
                    var collected = sink.collected
                    if case .failure(let error) = ended {
                        guard Self.isRedirect(status) else { throw Self.tooBig(error, method, url) }
                        collected = nil
                    }
                    return .answer(CollectedResponse(
                        status: status, reason: head.status.reasonPhrase, headers: head.headers, body: collected))
                }
                first = head
                acceptsRanges = head.headers.first(name: "accept-ranges")?.lowercased().contains("bytes") == true
                validator = head.headers.first(name: "etag") ?? head.headers.first(name: "last-modified")
            } else if !sink.toFile {
                var failure = HTTPFailure(
                    .network, "\(method) \(Redaction.url(url)): resuming the download at byte \(written) was answered \(status)",
                    outcome: .connectionFailed("resume"))
                failure.status = status
                throw failure
            }
            expected = sink.expected
            written = sink.written
            do {
                try ended.get()
                if let expected, written != expected {
                    throw HTTPFailure(
                        .network, "\(method) \(Redaction.url(url)): the body was cut short: \(written) of \(expected) bytes",
                        outcome: .connectionFailed("cut short"))
                }
                break
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
            }
        }
        try file.commit()
        let head = first!
        var result = HTTPResult(
            status: Int(head.status.code), reason: head.status.reasonPhrase,
            headers: head.headers.map { (name: $0.name, value: $0.value) }, body: [], url: url, attempts: 1)
        result.streamedBytes = written
        result.resumes = resumes
        return .finished(result)
    }

    /// One request of a download. Returns once the exchange ended and
    /// everything received is in the file (a resume starts after it), so
    /// that nothing writes to the file any more.
    private func attempt(_ request: HTTPClient.Request, sink: DownloadSink, deadline: NIODeadline) async -> Result<Void, any Error> {
        let task = client.execute(request: request, delegate: sink, eventLoop: .delegateAndChannel(on: sink.eventLoop), deadline: deadline)
        let ended: Result<Void, any Error>
        do {
            try await withTaskCancellationHandler {
                try await task.futureResult.get()
            } onCancel: {
                task.cancel()  // Ctrl-C
            }
            ended = .success(())
        } catch {
            ended = .failure(error)
        }
        // A write failure is kept in the sink.
        _ = try? await sink.eventLoop.flatSubmit { sink.drain() }.get()
        return ended
    }

    /// The request body of a download (the delegate API's form of it).
    static func legacyBody(_ body: [UInt8]?, _ upload: Upload?, on eventLoop: any EventLoop) -> HTTPClient.Body? {
        if let body { return .bytes(body) }
        guard let upload else { return nil }
        return .stream(contentLength: upload.length) { writer in
            let promise = eventLoop.makePromise(of: Void.self)
            promise.completeWithTask {
                for try await chunk in UploadStream(upload: upload) {
                    try await writer.write(.byteBuffer(chunk)).get()
                }
            }
            return promise.futureResult
        }
    }
}

/// The response delegate of one download request. Everything but the
/// writes runs on `eventLoop`: each body part is copied into one of a few
/// 1 MiB slots of memory owned by the sink (NIO then reuses its receive
/// buffer), and a job on NIOThreadPool.singleton writes each full slot with
/// one write(2) while the event loop reads on. One job at a time writes, and
/// none once `drain` has completed.
final class DownloadSink: HTTPClientResponseDelegate, @unchecked Sendable {
    typealias Response = Void

    /// Bytes of one slot: one write(2).
    static let slotSize = 1 << 20
    /// Slots: the memory of a download (the reading waits when all are full).
    static let slots = 8
    /// An answer that is not the body (an error status) is kept in memory up to this.
    static let collectLimit = Transport.maxBodyInMemory

    struct Progress {
        let id: Int
        let label: String
        let startedAt: Double
    }

    let file: AtomicOutput
    let eventLoop: any EventLoop
    /// Where this request resumes (a Range request), nil for the first one.
    let resumeAt: Int64?
    let progress: Progress
    private let memory: UnsafeMutableRawPointer

    // State of the event loop (read by the caller once `drain` has completed).
    private(set) var head: HTTPResponseHead?
    /// The answer is the body (or the rest of it): it goes to the file.
    private(set) var toFile = false
    private(set) var collected: ByteBuffer?
    /// The length of the whole body, when known.
    private(set) var expected: Int64?
    /// Bytes in the file.
    private(set) var written: Int64
    private(set) var writeFailure: (any Error)?
    private var free: [Int]
    /// Full slots, in order, and how many bytes each holds.
    private var ready: [(slot: Int, bytes: Int)] = []
    /// The slot being filled (-1: none) and its bytes.
    private var current = -1
    private var used = 0
    /// What did not fit in the slots (the reading waits until it has).
    private var carry: ByteBuffer?
    private var writing = false
    private var reading: EventLoopPromise<Void>?
    private var draining: EventLoopPromise<Void>?
    private var shownAt: Double

    init(file: AtomicOutput, eventLoop: any EventLoop, resumeAt: Int64?, expected: Int64?, progress: Progress) {
        self.file = file
        self.eventLoop = eventLoop
        self.resumeAt = resumeAt
        self.expected = expected
        self.written = resumeAt ?? 0
        self.progress = progress
        shownAt = progress.startedAt
        memory = .allocate(byteCount: Self.slots * Self.slotSize, alignment: 4096)
        free = Array((0..<Self.slots).reversed())
    }

    deinit { memory.deallocate() }

    func didReceiveHead(task: HTTPClient.Task<Void>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        self.head = head
        let status = Int(head.status.code)
        let length = head.headers.first(name: "content-length").flatMap { Int64($0) }
        if let at = resumeAt {
            let range = head.headers.first(name: "content-range") ?? ""
            if status == 206, range.hasPrefix("bytes \(at)-") {
                if let total = range.split(separator: "/").last.flatMap({ Int64($0) }) { expected = total }
                toFile = true
            } else if status == 200 {  // the resource changed or the server ignored the range: start over
                do {
                    try file.restart()  // nothing is being written: the request before this one was drained
                } catch {
                    writeFailure = error
                    return eventLoop.makeFailedFuture(error)
                }
                written = 0
                expected = length
                toFile = true
            }
        } else if (200..<300).contains(status) {
            expected = length
            toFile = true
        }
        return eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveBodyPart(task: HTTPClient.Task<Void>, _ buffer: ByteBuffer) -> EventLoopFuture<Void> {
        guard toFile else {
            if collected == nil {
                collected = buffer
            } else {
                collected!.writeImmutableBuffer(buffer)
            }
            if collected!.readableBytes > Self.collectLimit {
                return eventLoop.makeFailedFuture(ResponseAccumulator.ResponseTooBigError(maxBodySize: Self.collectLimit))
            }
            return eventLoop.makeSucceededVoidFuture()
        }
        if let writeFailure { return eventLoop.makeFailedFuture(writeFailure) }
        carry = absorb(buffer)
        if !writing { startWriting() }
        if carry != nil {
            let promise = eventLoop.makePromise(of: Void.self)
            reading = promise
            return promise.futureResult
        }
        return eventLoop.makeSucceededVoidFuture()
    }

    func didFinishRequest(task: HTTPClient.Task<Void>) throws {}

    /// Writes what is left; the future completes when nothing is being
    /// written (failed with the write's error, if one failed).
    func drain() -> EventLoopFuture<Void> {
        let promise = eventLoop.makePromise(of: Void.self)
        draining = promise
        pump()
        return promise.futureResult
    }

    /// Copies as much of `buffer` as the free slots take; returns the rest.
    private func absorb(_ buffer: ByteBuffer) -> ByteBuffer? {
        var rest = buffer
        while rest.readableBytes > 0 {
            if current < 0 {
                guard let slot = free.popLast() else { return rest }
                current = slot
                used = 0
            }
            let n = min(rest.readableBytes, Self.slotSize - used)
            let target = memory + current * Self.slotSize + used
            rest.withUnsafeReadableBytes { target.copyMemory(from: $0.baseAddress!, byteCount: n) }
            rest.moveReaderIndex(forwardBy: n)
            used += n
            if used == Self.slotSize {
                ready.append((current, used))
                current = -1
            }
        }
        return nil
    }

    /// Moves things on after a write or at the end: the carried bytes into
    /// the freed slots, the reading on, the next write, the end of `drain`.
    private func pump() {
        if let failure = writeFailure {
            reading?.fail(failure)
            reading = nil
            if !writing, let draining {
                self.draining = nil
                draining.fail(failure)
            }
            return
        }
        if let rest = carry { carry = absorb(rest) }
        if carry == nil, let reading {
            self.reading = nil
            reading.succeed()
        }
        if draining != nil, carry == nil, current >= 0 {  // the end: the last, partly filled slot
            ready.append((current, used))
            current = -1
        }
        if !writing { startWriting() }
        if !writing, let draining {
            self.draining = nil
            draining.succeed()
        }
    }

    private func startWriting() {
        guard !writing, !ready.isEmpty else { return }
        let (slot, bytes) = ready.removeFirst()
        writing = true
        let file = UncheckedBox(file)
        let bytesOfSlot = UncheckedBox(UnsafeRawBufferPointer(start: memory + slot * Self.slotSize, count: bytes))
        NIOThreadPool.singleton.runIfActive(eventLoop: eventLoop) {
            try file.value.write(unbuffered: bytesOfSlot.value)
        }.whenComplete { result in
            self.writing = false
            self.free.append(slot)
            switch result {
            case .success:
                self.written += Int64(bytes)
                self.showProgress()
            case .failure(let error):
                self.writeFailure = error
            }
            self.pump()
        }
    }

    private func showProgress() {
        let now = ProgressReporter.now()
        guard now - shownAt >= 0.5 else { return }
        shownAt = now
        ProgressReporter.shared.update(progress.id, ProgressReporter.transferText(
            progress.label, bytes: written, of: expected, seconds: now - progress.startedAt))
    }
}

/// A value handed to another thread that owns it alone meanwhile.
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
