import NIOCore

/// A large result generated on demand, never held in memory: a header, then
/// `rowCount` rows, then a footer. Rows follow `templates` in turn (row i uses
/// template i % k), each of a fixed width, so any byte range can be produced
/// directly (for `Range` requests and resumed downloads), and the body is the
/// same on every request. Numbers are written into the templates' slots.
struct RowsBody: GeneratedBody {
    /// One row shape: fixed bytes with numeric slots to fill.
    struct Template: Sendable {
        let bytes: [UInt8]
        let slots: [Slot]
    }

    struct Slot: Sendable {
        enum Value: Sendable {
            /// The group number (i / k + 1): rows of one group share it (a user and its types).
            case group
            /// A pseudo-random number in [10^(width-1), 10^width), from the row and the salt.
            case number(salt: UInt64)
        }
        let offset: Int
        let width: Int
        let value: Value
    }

    let header: [UInt8]
    let footer: [UInt8]
    let templates: [Template]
    let rowCount: Int
    let seed: UInt64
    /// `prefix[j]`: bytes of templates 0..<j; `prefix[k]` is one whole group.
    private let prefix: [Int]

    init(header: [UInt8], footer: [UInt8], templates: [Template], rowCount: Int, seed: UInt64) {
        precondition(!templates.isEmpty)
        self.header = header
        self.footer = footer
        self.templates = templates
        self.rowCount = max(0, rowCount)
        self.seed = seed
        var p = [0]
        for t in templates { p.append(p.last! + t.bytes.count) }
        prefix = p
    }

    /// The most rows that fit in about `bytes` bytes with this header and footer.
    static func rowsFitting(_ bytes: Int, header: Int, footer: Int, templates: [Template]) -> Int {
        let room = bytes - header - footer
        guard room > 0 else { return 0 }
        let group = templates.reduce(0) { $0 + $1.bytes.count }
        var n = (room / group) * templates.count
        var rest = room % group
        for t in templates {
            guard rest >= t.bytes.count else { break }
            rest -= t.bytes.count
            n += 1
        }
        return n
    }

    private var rowsBytes: Int { bytes(forRows: rowCount) }

    private func bytes(forRows n: Int) -> Int {
        let k = templates.count
        return (n / k) * prefix[k] + prefix[n % k]
    }

    var count: Int { header.count + rowsBytes + footer.count }

    func write(_ range: Range<Int>, into buffer: inout ByteBuffer) {
        guard !range.isEmpty else { return }
        buffer.reserveCapacity(minimumWritableBytes: range.count)
        let rowsEnd = header.count + rowsBytes
        var o = range.lowerBound
        // Header.
        if o < header.count {
            let end = min(range.upperBound, header.count)
            _ = header.withUnsafeBytes { buffer.writeBytes(UnsafeRawBufferPointer(rebasing: $0[o..<end])) }
            o = end
        }
        // Rows: find the row that holds `o`, then write row after row.
        if o < range.upperBound && o < rowsEnd {
            let k = templates.count
            let rel = o - header.count
            let group = rel / prefix[k]
            var within = rel % prefix[k]
            var j = 0
            while within >= prefix[j + 1] { j += 1 }
            within -= prefix[j]
            var row = group * k + j
            let end = min(range.upperBound, rowsEnd)
            let total = end - o
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: total) { out in
                var written = 0
                var skip = within
                var scratch = [UInt8](repeating: 0, count: templates.map(\.bytes.count).max()!)
                while written < total {
                    let t = templates[row % k]
                    let width = t.bytes.count
                    let take = min(width - skip, total - written)
                    if skip == 0 && take == width {
                        render(row: row, template: t, into: out.baseAddress! + written)
                    } else {
                        scratch.withUnsafeMutableBytes { s in
                            render(row: row, template: t, into: s.baseAddress!)
                            (out.baseAddress! + written).copyMemory(from: s.baseAddress! + skip, byteCount: take)
                        }
                    }
                    written += take
                    skip = 0
                    row += 1
                }
                return total
            }
            o = end
        }
        // Footer.
        if o < range.upperBound {
            let from = o - rowsEnd
            let to = range.upperBound - rowsEnd
            _ = footer.withUnsafeBytes { buffer.writeBytes(UnsafeRawBufferPointer(rebasing: $0[from..<to])) }
        }
    }

    @inline(__always)
    private func render(row: Int, template t: Template, into p: UnsafeMutableRawPointer) {
        t.bytes.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        let bytes = p.assumingMemoryBound(to: UInt8.self)
        for slot in t.slots {
            var v: UInt64
            switch slot.value {
            case .group:
                v = UInt64(row / templates.count + 1)
            case .number(let salt):
                var low: UInt64 = 1
                for _ in 1..<slot.width { low &*= 10 }
                let h = SplitMix64.mix(seed ^ SplitMix64.mix(UInt64(row) &+ salt))
                v = low + h % (low &* 9)
            }
            var i = slot.offset + slot.width - 1
            while i >= slot.offset {
                bytes[i] = 48 + UInt8(v % 10)
                v /= 10
                i -= 1
            }
        }
    }
}

extension RowsBody.Template {
    /// Builds a template from pieces: literal text and slots.
    enum Piece {
        case text(String)
        case slot(width: Int, value: RowsBody.Slot.Value)
    }

    init(_ pieces: [Piece]) {
        var bytes: [UInt8] = []
        var slots: [RowsBody.Slot] = []
        for piece in pieces {
            switch piece {
            case .text(let s):
                bytes += Array(s.utf8)
            case .slot(let width, let value):
                slots.append(RowsBody.Slot(offset: bytes.count, width: width, value: value))
                bytes += [UInt8](repeating: 48, count: width)
            }
        }
        self.init(bytes: bytes, slots: slots)
    }
}
