import Foundation
import LuaBridge
import MoonportCore
import XCTest

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The REPL's logic without a terminal: ReplSession, ValueFormatter, LuaCompleter.
final class ReplTests: XCTestCase {
    private func session(formatter: ValueFormatter = ValueFormatter()) -> ReplSession {
        ReplSession(host: MoonportHost(), formatter: formatter)
    }

    /// Feeds lines that must each succeed; returns the last line's values.
    @discardableResult
    private func run(_ s: ReplSession, _ lines: String..., file: StaticString = #filePath, line: UInt = #line)
        -> [String]
    {
        var last: [String] = []
        for l in lines {
            switch s.feed(l) {
            case .success(let values): last = values
            case let other:
                XCTFail("\(l) -> \(other)", file: file, line: line)
                return []
            }
        }
        return last
    }

    private func show(_ expression: String, formatter: ValueFormatter = ValueFormatter()) -> String {
        let s = session(formatter: formatter)
        let values = run(s, expression)
        XCTAssertEqual(values.count, 1, expression)
        return values.first ?? ""
    }

    // MARK: input

    func testIncompleteInputContinuesUntilTheChunkIsComplete() {
        let s = session()
        XCTAssertEqual(s.prompt, "> ")
        XCTAssertEqual(s.feed("function f()"), .incomplete)
        XCTAssertTrue(s.isContinuing)
        XCTAssertEqual(s.prompt, ">> ")
        XCTAssertEqual(s.feed("  return 40 + 2"), .incomplete)
        XCTAssertEqual(s.pendingInput, "function f()\n  return 40 + 2")
        XCTAssertEqual(s.feed("end"), .success([]))
        XCTAssertFalse(s.isContinuing)
        XCTAssertEqual(s.prompt, "> ")
        XCTAssertEqual(s.feed("f()"), .success(["42"]))
    }

    func testAnExpressionSpreadOverLinesShowsItsValue() {
        let s = session()
        XCTAssertEqual(s.feed("{1,"), .incomplete)
        XCTAssertEqual(s.feed("2}"), .success(["{1, 2}"]))
        XCTAssertEqual(s.feed("math.max(1,"), .incomplete)
        XCTAssertEqual(s.feed(""), .incomplete)  // a blank line inside a chunk is kept
        XCTAssertEqual(s.feed("7)"), .success(["7"]))
    }

    func testBlankLineIsEmpty() {
        let s = session()
        XCTAssertEqual(s.feed(""), .empty)
        XCTAssertEqual(s.feed("   "), .empty)
        XCTAssertFalse(s.isContinuing)
    }

    func testCancelInputDropsTheUnfinishedChunk() {
        let s = session()
        XCTAssertEqual(s.feed("for i = 1, 3 do"), .incomplete)
        s.cancelInput()
        XCTAssertFalse(s.isContinuing)
        XCTAssertEqual(s.feed("1+1"), .success(["2"]))
    }

    func testUnfinishedChunkAtEndOfInputIsASyntaxError() {
        let s = session()
        XCTAssertNil(s.finishInput())
        XCTAssertEqual(s.feed("t = {"), .incomplete)
        guard case .failure(let message)? = s.finishInput() else { return XCTFail("expected a failure") }
        XCTAssertTrue(message.hasSuffix("<eof>"), message)
        XCTAssertTrue(message.hasPrefix("stdin:"), message)
        XCTAssertFalse(s.isContinuing)
    }

    // MARK: return first

    func testExpressionsPrintTheirValues() {
        let s = session()
        XCTAssertEqual(s.feed("1+1"), .success(["2"]))
        XCTAssertEqual(s.feed("x = 5"), .success([]))
        XCTAssertEqual(s.feed("x*2"), .success(["10"]))
        XCTAssertEqual(s.feed("=x"), .success(["5"]))
        XCTAssertEqual(s.feed("= x + 1"), .success(["6"]))
        XCTAssertEqual(s.feed("10/4"), .success(["2.5"]))
        XCTAssertEqual(s.feed("10/2"), .success(["5.0"]))
        XCTAssertEqual(s.feed("print('side effect')"), .success([]))
    }

    func testMultipleValuesAreSeparate() {
        let s = session()
        XCTAssertEqual(s.feed("1, 'two', nil, true, 2^53"), .success(["1", "two", "nil", "true", "9.007199254741e+15"]))
        XCTAssertEqual(s.feed("string.find('hello', 'l+')"), .success(["3", "4"]))
        XCTAssertEqual(s.feed("return"), .success([]))
    }

    func testLocalsDoNotSurviveBetweenChunksButGlobalsDo() {
        let s = session()
        run(s, "local hidden = 1", "shown = 2")
        XCTAssertEqual(s.feed("hidden"), .success(["nil"]))
        XCTAssertEqual(s.feed("shown"), .success(["2"]))
    }

    // MARK: errors

    func testRuntimeErrorReportsMessageAndTracebackAndTheSessionGoesOn() {
        let s = session()
        guard case .failure(let message) = s.feed("error('boom')") else { return XCTFail("expected a failure") }
        XCTAssertTrue(message.hasPrefix("stdin:1: boom"), message)
        XCTAssertTrue(message.contains("stack traceback:"), message)
        XCTAssertEqual(s.feed("1+1"), .success(["2"]))
    }

    func testABackgroundTaskThatFailsUnobservedIsReportedNotSwallowed() {
        let s = session()
        XCTAssertEqual(s.feed("task = require 'task'"), .success([]))
        XCTAssertEqual(s.feed("local h = task.spawn(function() task.sleep(0.01) error('lost in the background') end)"), .success([]))
        // The next line runs after it failed: its results are shown and the failure is reported, once.
        guard case .taskFailed(let results, let message) = s.feed("task.sleep(0.3) return 42") else {
            return XCTFail("the background failure was not reported")
        }
        XCTAssertEqual(results, ["42"])
        XCTAssertTrue(message.contains("lost in the background"), message)
        XCTAssertTrue(message.contains("nothing waited for"), message)
        XCTAssertEqual(s.feed("1+1"), .success(["2"]), "reported once")
    }

    func testSyntaxErrorIsReportedAtOnce() {
        let s = session()
        guard case .failure(let message) = s.feed("x = = 1") else { return XCTFail("expected a failure") }
        XCTAssertTrue(message.hasPrefix("stdin:1:"), message)
        XCTAssertFalse(s.isContinuing)
        XCTAssertEqual(s.feed("'still here'"), .success(["still here"]))
    }

    func testErrorObjectsShowAsTheirTostring() {
        let s = session()
        guard case .failure(let message) = s.feed("error(require('moonport').error('usage', 'bad thing'))") else {
            return XCTFail("expected a failure")
        }
        XCTAssertTrue(message.contains("bad thing"), message)
        let values = run(s, "pcall(error, require('moonport').error('validation', 'field x is missing'))")
        XCTAssertEqual(values.first, "false")
        XCTAssertEqual(values.count, 2)
        XCTAssertTrue(values[1].hasSuffix("field x is missing"), values[1])
        XCTAssertFalse(values[1].contains("{"), values[1])
    }

    // MARK: Ctrl-C

    /// Sends SIGINT to this process after a delay, as Ctrl-C would.
    private func interruptSoon(after seconds: Double) {
        let pid = getpid()
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds) { _ = kill(pid, SIGINT) }
    }

    func testCtrlCStopsRunningLuaCodeAndTheSessionGoesOn() {
        let host = MoonportHost()
        host.catchInterrupts()
        defer { signal(SIGINT, SIG_DFL) }
        let s = ReplSession(host: host)
        interruptSoon(after: 0.3)
        guard case .interrupted(let message) = s.feed("while true do end") else { return XCTFail("not interrupted") }
        XCTAssertTrue(message.contains("interrupted"), message)
        XCTAssertFalse(host.runtime.interrupted, "the flag is cleared for the next chunk")
        XCTAssertEqual(s.feed("1+1"), .success(["2"]))
        // A chunk that catches the interrupt goes on and shows its values.
        interruptSoon(after: 0.3)
        let caught = s.feed("pcall(function() while true do end end)")
        guard case .success(let values) = caught, values.count == 2 else { return XCTFail("\(caught)") }
        XCTAssertEqual(values[0], "false")
        XCTAssertTrue(values[1].contains("interrupted"), values[1])
        XCTAssertEqual(s.feed("2+2"), .success(["4"]))
    }

    func testCtrlCBetweenReadingALineAndRunningItCancelsThatChunk() {
        let host = MoonportHost()
        host.catchInterrupts()
        defer { signal(SIGINT, SIG_DFL) }
        let s = ReplSession(host: host)
        let top = host.lua.top
        raise(SIGINT)
        XCTAssertEqual(s.feed("marker = 1"), .interrupted("interrupted"))
        XCTAssertEqual(host.lua.top, top)
        XCTAssertEqual(s.feed("marker"), .success(["nil"]), "the chunk did not run")
        XCTAssertEqual(s.feed("1+1"), .success(["2"]))
    }

    func testCtrlCWhileAChunkWaitsForTheHostFailsTheWaitAndTheSessionGoesOn() {
        let host = MoonportHost()
        let lua = host.lua
        lua.pushGlobals()
        lua.setFunction(-1, "test_wait") { call in
            let seconds = try call.number(1, "seconds")
            return try call.suspend(
                { () async throws -> Bool in
                    try await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
                    return true
                },
                deliver: { lua, value in
                    lua.push(value)
                    return 1
                })
        }
        lua.pop()
        let s = ReplSession(host: host)
        XCTAssertEqual(s.feed("test_wait(0.01)"), .success(["true"]), "a blocking call works at the prompt")

        host.catchInterrupts()
        defer { signal(SIGINT, SIG_DFL) }
        interruptSoon(after: 0.3)
        let started = Date()
        guard case .interrupted(let message) = s.feed("test_wait(30)") else { return XCTFail("not interrupted") }
        XCTAssertLessThan(Date().timeIntervalSince(started), 10)
        XCTAssertTrue(message.contains("interrupted"), message)
        XCTAssertFalse(host.runtime.interrupted)
        XCTAssertEqual(host.runtime.pendingSuspensions, 0)
        XCTAssertEqual(s.feed("test_wait(0.01)"), .success(["true"]))
        XCTAssertEqual(s.feed("1+1"), .success(["2"]))
    }

    // MARK: formatting

    func testTopLevelValuesReadAsPrintShowsThem() {
        XCTAssertEqual(show("'a\\tb'"), "a\tb")
        XCTAssertEqual(show("nil"), "nil")
        XCTAssertEqual(show("false"), "false")
        XCTAssertEqual(show("-0.0"), "-0.0")
        XCTAssertEqual(show("math.huge"), "inf")
        XCTAssertEqual(show("math.maxinteger"), "9223372036854775807")
        XCTAssertTrue(show("print").hasPrefix("function: "))
    }

    func testTablesPrettyPrinted() {
        XCTAssertEqual(show("{}"), "{}")
        XCTAssertEqual(show("{1, 2, 3}"), "{1, 2, 3}")
        XCTAssertEqual(show("{'a\\n', 'q\"', '\\0001', 'tab\\there'}"), #"{"a\n", "q\"", "\0001", "tab\there"}"#)
        XCTAssertEqual(show("{'\\1x', '\\255'}"), #"{"\1x", "\255"}"#)
        XCTAssertEqual(show("{'héllo'}"), #"{"héllo"}"#)
    }

    func testTableKeysAreSortedSequenceFirst() {
        let text = show("{b = 1, a = {x = 's'}, 'one', 'two', [5] = 5, [-1] = 0, [2.5] = 0, ['not id'] = true, [true] = 1, ['end'] = 0}")
        XCTAssertEqual(text, #"""
            {
              "one",
              "two",
              [-1] = 0,
              [2.5] = 0,
              [5] = 5,
              a = {x = "s"},
              b = 1,
              ["end"] = 0,
              ["not id"] = true,
              [true] = 1
            }
            """#)
        // The same table prints the same way every time (hash order does not show).
        XCTAssertEqual(show("{z = 1, y = 2, x = 3, w = 4}"), "{w = 4, x = 3, y = 2, z = 1}")
    }

    func testNestingIsCutAtTheDepthLimit() {
        XCTAssertEqual(show("{{{{1}}}}"), "{{{{...}}}}")
        XCTAssertEqual(show("{{{1}}}"), "{{{1}}}")
        XCTAssertEqual(show("{{{{}}}}"), "{{{{}}}}")  // an empty table is shown even past the limit
        XCTAssertEqual(show("{a = {b = {c = {d = 1}}}}"), "{a = {b = {c = {...}}}}")
        XCTAssertEqual(show("{a = {b = {c = 1}}}", formatter: ValueFormatter(maxDepth: 1)), "{a = {...}}")
    }

    func testCyclesAreShownNotFollowed() {
        let s = session()
        run(s, "t = {name = 't'}", "t.self = t", "t.list = {t, 2}")
        XCTAssertEqual(s.feed("t"), .success([#"{list = {<cycle>, 2}, name = "t", self = <cycle>}"#]))
        // A table seen twice but not inside itself is printed both times.
        run(s, "shared = {1}")
        XCTAssertEqual(s.feed("{shared, shared}"), .success(["{{1}, {1}}"]))
    }

    func testEntriesAreLimited() {
        let formatter = ValueFormatter(maxEntries: 3)
        XCTAssertEqual(show("{1, 2, 3, 4, 5}", formatter: formatter), "{1, 2, 3, ... (2 more)}")
        XCTAssertEqual(show("{10, 20, x = 1, y = 2}", formatter: formatter), "{10, 20, x = 1, ... (1 more)}")
        let big = show("(function() local t = {} for i = 1, 1000 do t[i] = i end return t end)()")
        XCTAssertTrue(big.hasSuffix("... (900 more)\n}"), String(big.suffix(40)))
    }

    func testLongTablesGoOnSeveralLines() {
        let text = show("{alpha = 'aaaaaaaaaaaa', beta = 'bbbbbbbbbbbb', gamma = 'cccccccccccc', delta = {1, 2}}")
        XCTAssertEqual(text, #"""
            {
              alpha = "aaaaaaaaaaaa",
              beta = "bbbbbbbbbbbb",
              delta = {1, 2},
              gamma = "cccccccccccc"
            }
            """#)
    }

    func testTostringMetamethodIsUsedAndProtected() {
        XCTAssertEqual(show("setmetatable({}, {__tostring = function() return 'custom' end})"), "custom")
        XCTAssertEqual(show("{setmetatable({1}, {__tostring = function() return 'inner' end})}"), "{inner}")
        let failing = show("setmetatable({}, {__tostring = function() error('nope') end})")
        XCTAssertTrue(failing.contains("__tostring failed") && failing.contains("nope"), failing)
        // __index and __pairs are not run by the printer.
        XCTAssertEqual(
            show("setmetatable({a = 1}, {__index = function() error('index ran') end, __pairs = function() error('pairs ran') end})"),
            "{a = 1}")
    }

    func testValueFormatterQuote() {
        XCTAssertEqual(ValueFormatter.quote(Array("plain".utf8)), "\"plain\"")
        XCTAssertEqual(ValueFormatter.quote([0x41, 0x0a, 0x22, 0x5c]), #""A\n\"\\""#)
        XCTAssertEqual(ValueFormatter.quote([0x01, 0x32]), #""\0012""#)
        XCTAssertEqual(ValueFormatter.quote([0xff, 0x41]), #""\255A""#)
    }

    // MARK: completion

    func testCompletesGlobalsAndKeywords() {
        let s = session()
        let c = s.complete("pri")
        XCTAssertEqual(c.word, "pri")
        XCTAssertEqual(c.candidates, ["print"])
        XCTAssertEqual(c.insertion, "nt")
        XCTAssertEqual(s.complete("whi").candidates, ["while"])
        XCTAssertEqual(s.complete("x = fun").candidates, ["function"])
        run(s, "myglob_alpha = 1", "myglob_beta = 2")
        let several = s.complete("print(myg")
        XCTAssertEqual(several.candidates, ["myglob_alpha", "myglob_beta"])
        XCTAssertEqual(several.insertion, "lob_")
        XCTAssertEqual(s.complete("myglob_").insertion, "")
        XCTAssertTrue(s.complete("no_such_thing").candidates.isEmpty)
    }

    func testCompletesFieldsOfALibrary() {
        let s = session()
        let c = s.complete("string.fo")
        XCTAssertEqual(c.candidates, ["format"])
        XCTAssertEqual(c.insertion, "rmat")
        XCTAssertEqual(s.complete("x = string.for").candidates, ["format"])
        XCTAssertEqual(s.complete("table.").candidates, ["concat", "insert", "move", "pack", "remove", "sort", "unpack"])
        XCTAssertEqual(s.complete("math.ma").candidates, ["max", "maxinteger"])
    }

    func testCompletesANestedPathAndMethods() {
        let s = session()
        run(s, "deep = {inner = {alpha = 1, also = 2, method = function() end, [1] = 'x', ['no id'] = 3}}")
        XCTAssertEqual(s.complete("deep.in").candidates, ["inner"])
        XCTAssertEqual(s.complete("deep.inner.al").candidates, ["alpha", "also"])
        XCTAssertEqual(s.complete("deep.inner.").candidates, ["alpha", "also", "method"])
        XCTAssertEqual(s.complete("deep.inner:").candidates, ["method"])
        XCTAssertTrue(s.complete("deep.missing.x").candidates.isEmpty)
        XCTAssertTrue(s.complete("deep.inner.alpha.x").candidates.isEmpty)
    }

    func testCompletionFollowsIndexTablesButRunsNoMetamethod() {
        let s = session()
        run(
            s, "base = {hello = 1, help = 2}", "obj = setmetatable({own = 1}, {__index = base})",
            "trap = setmetatable({}, {__index = function() error('__index ran') end})", "str = 'text'")
        XCTAssertEqual(s.complete("obj.").candidates, ["hello", "help", "own"])
        XCTAssertEqual(s.complete("obj.he").insertion, "l")
        XCTAssertEqual(s.complete("obj.hell").insertion, "o")
        XCTAssertTrue(s.complete("trap.x.").candidates.isEmpty)
        XCTAssertTrue(s.complete("trap.").candidates.isEmpty)
        XCTAssertEqual(s.complete("str:up").candidates, ["upper"])
        XCTAssertEqual(s.complete("base.help").candidates, ["help"])
    }

    func testNothingToCompleteAfterNonNames() {
        let s = session()
        XCTAssertTrue(s.complete("1.5").candidates.isEmpty)
        XCTAssertTrue(s.complete("f().x").candidates.isEmpty)
        XCTAssertTrue(s.complete("t[1].x").candidates.isEmpty)
        XCTAssertTrue(s.complete("a:b.c").candidates.isEmpty)
        // `..` is concatenation: only the word after it is completed.
        XCTAssertEqual(s.complete("x = 'a'..stri").candidates, ["string"])
    }

    func testCompletionLeavesTheStackBalanced() {
        let s = session()
        let top = s.host.lua.top
        _ = s.complete("string.fo")
        _ = s.complete("deep.no.such")
        _ = s.complete("pri")
        XCTAssertEqual(s.host.lua.top, top)
        _ = s.feed("{1, {2}, x = {y = 1}}")
        _ = s.feed("function g(")
        _ = s.feed(")end")
        XCTAssertEqual(s.host.lua.top, top)
    }
}
