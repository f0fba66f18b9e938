// The floor under moonport's small GETs (scripts/bench/http.py runs it).
//
//   transport-floor MODE URL N CONCURRENCY EXPECTED_BYTES
//
// N GETs of URL, CONCURRENCY in flight, each answer a 200 of EXPECTED_BYTES
// bytes; prints "START" before the first request and "RESULT ok=N errors=N
// cpu=S wall=S rate=R" after the last (as scripts/bench/http_bench.lua
// does, so that the driver times both alike). The modes add one
// layer of moonport's path at a time, so that the bench can say where the
// time of a request goes:
//   client     async-http-client alone, on moonport's shared client
//              (configuration included): each answer starts the next request
//              on the event loop that delivered it. The library's own floor.
//   hop        the same, but each answer is handed to one waiting thread
//              (a lock and a semaphore, as the Lua runtime's inbox), which
//              starts the next request: the cost of the thread hop.
//   transport  the hop, with Transport.start (the retry policy's fast path,
//              secret registration, rate-limit budget) in place of the bare
//              client: moonport's HTTP layer without Lua.
// `moonport run scripts/bench/http_bench.lua gets ...` then adds Lua.
import AsyncHTTPClient
import Foundation
import MoonportCore
import NIOCore
import NIOHTTP1
import Synchronization

let argv = CommandLine.arguments
guard argv.count == 6, let n = Int(argv[3]), let concurrency = Int(argv[4]), let expected = Int(argv[5]),
    ["client", "hop", "transport"].contains(argv[1])
else {
    FileHandle.standardError.write(Data("usage: transport-floor client|hop|transport URL N CONCURRENCY EXPECTED_BYTES\n".utf8))
    exit(2)
}
let mode = argv[1]
let url = argv[2]

func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

/// Counts answers; `ok` when the status and the size are right.
final class Tally: Sendable {
    let n: Int
    init(_ n: Int) { self.n = n }
    private let counts = Mutex<(ok: Int, errors: Int, started: Int)>((0, 0, 0))
    /// Claims the next request to start (false once N were started).
    func claim() -> Bool {
        counts.withLock { c in
            guard c.started < n else { return false }
            c.started += 1
            return true
        }
    }
    /// Records an answer; true when all N are in.
    func record(_ ok: Bool) -> Bool {
        counts.withLock { c in
            if ok { c.ok += 1 } else { c.errors += 1 }
            return c.ok + c.errors == n
        }
    }
    var result: (ok: Int, errors: Int) { counts.withLock { ($0.ok, $0.errors) } }
}

let tally = Tally(n)
let finished = DispatchSemaphore(value: 0)
let client = Transport.shared.client

@Sendable func sendBare(_ done: @escaping @Sendable (Bool) -> Void) {
    let request = try! HTTPClient.Request(url: url, method: .GET, headers: ["User-Agent": "moonport-floor"])
    client.execute(request: request, delegate: ResponseAccumulator(request: request), eventLoop: .indifferent)
        .futureResult.whenComplete { result in
            if case .success(let r) = result, r.status == .ok, r.body?.readableBytes == expected { done(true) } else { done(false) }
        }
}

@Sendable func sendTransport(_ done: @escaping @Sendable (Bool) -> Void) {
    _ = Transport.shared.start(HTTPRequestSpec(method: "GET", url: url)) { result in
        if case .success(let r) = result, r.status == 200, r.body.count == expected { done(true) } else { done(false) }
    }
}

FileHandle.standardOutput.write(Data("START\n".utf8))
let t0 = Date()
let c0 = cpuSeconds()
switch mode {
case "client":
    @Sendable func chain() {
        guard tally.claim() else { return }
        sendBare { ok in
            if tally.record(ok) { finished.signal() } else { chain() }
        }
    }
    for _ in 0..<concurrency { chain() }
    finished.wait()
default:
    // One waiting thread (this one) starts every request, as the Lua runtime does.
    let inbox = Mutex<[Bool]>([])
    let wake = DispatchSemaphore(value: 0)
    let send = mode == "hop" ? sendBare : sendTransport
    let post: @Sendable (Bool) -> Void = { ok in
        inbox.withLock { $0.append(ok) }
        wake.signal()
    }
    var inFlight = 0
    for _ in 0..<concurrency where tally.claim() {
        inFlight += 1
        send(post)
    }
    var done = false
    while !done {
        wake.wait()
        for ok in inbox.withLock({ items -> [Bool] in defer { items.removeAll() }; return items }) {
            inFlight -= 1
            if tally.record(ok) { done = true }
            if tally.claim() {
                inFlight += 1
                send(post)
            }
        }
    }
}
let wall = Date().timeIntervalSince(t0)
let cpu = cpuSeconds() - c0
let (ok, errors) = tally.result
print(String(format: "RESULT ok=%d errors=%d cpu=%.6f wall=%.6f rate=%.0f", ok, errors, cpu, wall, Double(n) / wall))
exit(errors == 0 ? 0 : 1)
