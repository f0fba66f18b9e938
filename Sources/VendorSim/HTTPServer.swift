/// The simulator's HTTP/1.1 server, on SwiftNIO directly.
///
/// Why NIO and not a framework (Hummingbird, Vapor): fault injection needs
/// control of the connection itself, which frameworks hide —
/// - `reset`: set SO_LINGER to 0 and close, so the client sees a TCP RST;
/// - `lost`: apply the request's effect, then drop the connection before answering;
/// - `truncate`: promise a `Content-Length` and close in the middle of the body;
/// and big results must be streamed with back-pressure (`channel.isWritable`),
/// written in large buffers, with `Range` support. NIO is already linked
/// (async-http-client is built on it), so the simulator adds no package and no
/// build time. Keep-alive and pipelining come from NIO's
/// `HTTPServerPipelineHandler`: one request is answered at a time per
/// connection, in order.
///
/// The server never logs requests, so credentials sent to it go nowhere.
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// Everything a connection handler needs: the routes, faults and counters.
final class SimApp: Sendable {
    let router: Router
    let faults: FaultInjector
    let stats: Stats
    let clock: SimClock
    /// The vendor's own 404/405 body, by vendor name.
    let vendorErrors: [String: @Sendable (SimRequest, Int) -> SimResponse]

    /// Simulated seconds the `slow` fault waits before answering.
    static let slowDelay = 2.0

    init(router: Router, faults: FaultInjector, stats: Stats, clock: SimClock,
         vendorErrors: [String: @Sendable (SimRequest, Int) -> SimResponse]) {
        self.router = router
        self.faults = faults
        self.stats = stats
        self.clock = clock
        self.vendorErrors = vendorErrors
    }

    func unrouted(_ request: SimRequest, vendor: String?, status: Int) -> SimResponse {
        if let vendor, let make = vendorErrors[vendor] { return make(request, status) }
        return .json(status, ["error": status == 404 ? "not found" : "method not allowed", "path": request.path])
    }
}

/// Binds the listening socket and owns the event loops.
final class SimServer: Sendable {
    let group: MultiThreadedEventLoopGroup
    let app: SimApp

    init(app: SimApp, threads: Int) {
        self.app = app
        group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads))
    }

    func bind(host: String, port: Int) -> EventLoopFuture<Channel> {
        let app = self.app
        return ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 512)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 1024, initial: 16 * 1024, maximum: 1024 * 1024))
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 1 << 20, high: 4 << 20))
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withPipeliningAssistance: true, withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(SimHTTPHandler(app: app))
                }
            }
            .bind(host: host, port: port)
    }
}

/// One connection: reads a request (head, body, end), routes it, applies the
/// fault decided for it, and writes the answer (streamed when it is large).
final class SimHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// Bytes generated per write while streaming a body.
    static let chunkSize = 512 * 1024

    fileprivate let app: SimApp
    private var head: HTTPRequestHead?
    private var match: Router.Match?
    private var body: ByteBuffer?
    private var bodyLength = 0
    private var bodyTooLarge = false
    private var maxBody = Route.defaultMaxBody
    private var stream: Stream?
    private var active = true

    private struct Stream {
        let body: any GeneratedBody
        var next: Int
        let end: Int
        /// Close after `end` instead of finishing the response (the truncate fault).
        let truncated: Bool
        let keepAlive: Bool
    }

    init(app: SimApp) { self.app = app }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body = nil
            bodyLength = 0
            bodyTooLarge = false
            let path = h.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? h.uri
            let m = app.router.match(method: h.method, path: path)
            match = m
            if case .found(let route, _) = m { maxBody = route.maxBody } else { maxBody = 1 << 20 }
            if let length = h.headers.first(name: "Content-Length").flatMap(Int.init), length > 0, length <= maxBody {
                body = context.channel.allocator.buffer(capacity: length)
            }
        case .body(var chunk):
            bodyLength += chunk.readableBytes
            guard !bodyTooLarge else { return }
            if bodyLength > maxBody {
                bodyTooLarge = true
                body = nil
                return
            }
            if body == nil {
                body = chunk
            } else {
                body!.writeBuffer(&chunk)
            }
        case .end:
            guard let h = head, let m = match else { return }
            head = nil
            match = nil
            let bytes: [UInt8] = body.map { Array($0.readableBytesView) } ?? []
            body = nil
            let request = SimRequest(head: h, body: bytes, bodyLength: bodyLength, bodyTooLarge: bodyTooLarge,
                                     serverAddress: serverAddress(context))
            respond(context: context, head: h, match: m, request: request)
        }
    }

    private func respond(context: ChannelHandlerContext, head: HTTPRequestHead, match: Router.Match, request: SimRequest) {
        let keepAlive = head.isKeepAlive
        switch match {
        case .wrongMethod(let vendor):
            app.stats.request(vendor: vendor)
            send(context, head, app.unrouted(request, vendor: vendor, status: 405), keepAlive: keepAlive)
        case .notFound(let vendor):
            app.stats.request(vendor: vendor)
            send(context, head, app.unrouted(request, vendor: vendor, status: 404), keepAlive: keepAlive)
        case .found(let route, let params):
            app.stats.request(vendor: route.vendor)
            let fault = route.vendor == nil ? nil : app.faults.next(method: head.method.rawValue, path: request.path)
            switch fault {
            case .reset:
                resetConnection(context)
            case .serverError, .tooManyRequests:
                send(context, head, route.fault(fault!), keepAlive: keepAlive)
            default:
                run(context, route, params, request) { handler, context, response in
                    var delivery = response.delivery
                    switch fault {
                    case .lost: delivery = .dropped
                    case .truncate: delivery = .cut(response.contentLength / 2)
                    case .slow: delivery = .delayed(handler.app.clock.real(SimApp.slowDelay))
                    default: break
                    }
                    handler.deliver(context, head, response, delivery, keepAlive: keepAlive)
                }
            }
        }
    }

    /// Writes the answer as `delivery` says: at once, after a delay, cut
    /// short, or not at all (the connection is closed).
    private func deliver(_ context: ChannelHandlerContext, _ head: HTTPRequestHead, _ response: SimResponse,
                         _ delivery: SimResponse.Delivery, keepAlive: Bool) {
        switch delivery {
        case .normal:
            send(context, head, response, keepAlive: keepAlive)
        case .dropped:
            context.close(promise: nil)
        case .cut(let bytes):
            send(context, head, response, keepAlive: false, cutAfter: bytes)
        case .delayed(let seconds):
            context.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(Int64(max(0, seconds) * 1e9))) {
                self.send(context, head, response, keepAlive: keepAlive)
            }
        }
    }

    /// Bodies above this size are handled off the event loop (parsing a
    /// 100 MB upload must not stall the other connections of the loop).
    static let offloadBodyBytes = 1 << 20

    /// Runs the route's handler (on the event loop, or on a worker queue for
    /// large bodies), then `then` on the event loop.
    private func run(
        _ context: ChannelHandlerContext, _ route: Route, _ params: Params, _ request: SimRequest,
        then: @escaping (SimHTTPHandler, ChannelHandlerContext, SimResponse) -> Void
    ) {
        guard request.body.count > Self.offloadBodyBytes else {
            then(self, context, route.handler(request, params))
            return
        }
        let loop = context.eventLoop
        let bound = NIOLoopBound((self, context, then), eventLoop: loop)
        DispatchQueue.global().async {
            let response = route.handler(request, params)
            loop.execute {
                let (handler, context, then) = bound.value
                then(handler, context, response)
            }
        }
    }

    /// Writes a response. `cutAfter`: the full Content-Length is promised, that
    /// many body bytes are sent, then the connection is closed.
    fileprivate func send(_ context: ChannelHandlerContext, _ request: HTTPRequestHead, _ response: SimResponse,
                          keepAlive: Bool, cutAfter: Int? = nil) {
        guard active else { return }
        let length = response.contentLength
        var headers = HTTPHeaders(response.headers)
        headers.replaceOrAdd(name: "Content-Length", value: String(length))
        if !keepAlive {
            headers.replaceOrAdd(name: "Connection", value: "close")
        } else if request.version.major == 1 && request.version.minor == 0 {
            headers.replaceOrAdd(name: "Connection", value: "keep-alive")
        }
        let status = HTTPResponseStatus(statusCode: response.status)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil)
        let withBody = request.method != .HEAD && length > 0
        if let cutAfter {
            let cut = withBody ? min(max(0, cutAfter), length) : 0
            let source: any GeneratedBody
            switch response.body {
            case .bytes(let b): source = BytesBody(bytes: b)
            case .generated(let g): source = g
            }
            stream = Stream(body: source, next: 0, end: cut, truncated: true, keepAlive: false)
            pump(context)
            return
        }
        guard withBody else {
            finish(context, keepAlive: keepAlive)
            return
        }
        switch response.body {
        case .bytes(let b):
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: b)))), promise: nil)
            finish(context, keepAlive: keepAlive)
        case .generated(let g):
            stream = Stream(body: g, next: 0, end: g.count, truncated: false, keepAlive: keepAlive)
            pump(context)
        }
    }

    /// Writes the streamed body while the channel is writable; resumes from
    /// `channelWritabilityChanged` (back-pressure).
    private func pump(_ context: ChannelHandlerContext) {
        guard var s = stream, active else { return }
        var last: EventLoopPromise<Void>?
        while s.next < s.end && context.channel.isWritable {
            let n = min(Self.chunkSize, s.end - s.next)
            var buffer = context.channel.allocator.buffer(capacity: n)
            s.body.write(s.next..<(s.next + n), into: &buffer)
            s.next += n
            if s.next >= s.end && s.truncated {
                last = context.eventLoop.makePromise()
            }
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: last)
        }
        guard s.next >= s.end else {
            stream = s
            context.flush()
            return
        }
        stream = nil
        if s.truncated {
            context.flush()
            if let last {
                last.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
            } else {
                context.close(promise: nil)
            }
        } else {
            finish(context, keepAlive: s.keepAlive)
        }
    }

    private func finish(_ context: ChannelHandlerContext, keepAlive: Bool) {
        if keepAlive {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        } else {
            let done = context.eventLoop.makePromise(of: Void.self)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: done)
            done.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }

    /// A TCP reset: SO_LINGER 0, then close.
    private func resetConnection(_ context: ChannelHandlerContext) {
        if let provider = context.channel as? SocketOptionProvider {
            provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        } else {
            context.close(promise: nil)
        }
    }

    /// `127.0.0.1:PORT` of the listening side, for links when a request has no `Host`.
    private func serverAddress(_ context: ChannelHandlerContext) -> String? {
        guard let a = context.channel.localAddress, let ip = a.ipAddress, let port = a.port else { return nil }
        return ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, stream != nil { pump(context) }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        active = false
        stream = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
