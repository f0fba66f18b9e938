import Foundation
import NIOHTTP1
import XCTest

@testable import VendorSim

final class FaultTests: XCTestCase {
    private var sims: [SimHarness] = []

    override func tearDown() {
        for s in sims { s.shutdown() }
        sims = []
        super.tearDown()
    }

    private func make(_ spec: String, seed: UInt64 = 7, speed: Double = 200) throws -> SimHarness {
        let s = try SimHarness {
            $0.faults = try! FaultSpec(parsing: spec)
            $0.seed = seed
            $0.speed = speed
        }
        sims.append(s)
        return s
    }

    private let rows: [String: Any] = ["transactionName": "fault test", "fields": ["campaign_id", "campaign_name", "channel"],
                                       "rows": [["C-1", "Spring", "search"]]]

    func testSpecParsing() throws {
        let spec = try FaultSpec(parsing: "lost:0.02, 500:0.1,429:0.05,reset:0.02,slow:0.05,truncate:0.01")
        XCTAssertEqual(spec.description, "500:0.1,429:0.05,reset:0.02,slow:0.05,truncate:0.01,lost:0.02")
        XCTAssertEqual(spec.rates[.lost], 0.02)
        XCTAssertTrue(try FaultSpec(parsing: "").isEmpty)
        let bad = ["500:2", "boom:0.1", "500", "500:0.6,429:0.6", "500:0.1,500:0.2", "500:x", "500:-0.1", "500:0.1,"]
        for text in bad {
            XCTAssertThrowsError(try FaultSpec(parsing: text), text) { error in
                XCTAssertFalse((error as? FaultSpecError)?.message.isEmpty ?? true)
            }
        }
        XCTAssertTrue((try? FaultSpec(parsing: "boom:0.1")) == nil)
        do {
            _ = try FaultSpec(parsing: "boom:0.1")
        } catch {
            XCTAssertTrue(error.message.contains("unknown fault kind \"boom\""), error.message)
        }
    }

    func testServerErrorFaultAnswersWithTheVendorsBodyAndHasNoEffect() async throws {
        let sim = try make("500:1")
        let claravine = try await sim.send(.POST, "/claravine/v1/datasets/ds-campaigns/data", headers: Auth.claravine, json: rows)
        XCTAssertEqual(claravine.status, 500)
        XCTAssertNotNil(claravine.object.str("code"))
        let clari = try await sim.send(.POST, "/clari/v4/export/forecast/net_new", headers: Auth.clari, json: ["timePeriod": "2024_Q1"])
        XCTAssertEqual(clari.status, 500)
        XCTAssertEqual(clari.object.str("namespace"), "exports")
        let mics = try await sim.send(.GET, "/mediarithmics/v1/datamarts/1502/document_imports", headers: Auth.mediarithmics)
        XCTAssertEqual(mics.object.str("status"), "error")
        let stats = try await sim.stats()
        XCTAssertEqual(stats.dict("faults").num("500"), 3)
        XCTAssertNil(stats.dict("created").dict("claravine").num("transactions"))
        XCTAssertNil(stats.dict("created").dict("clari").num("export_jobs"))
    }

    func testTooManyRequestsFaultHasTheVendorsHeaders() async throws {
        let sim = try make("429:1")
        let cordial = try await sim.send(.GET, "/cordial/v2/jobs", headers: Auth.cordial)
        XCTAssertEqual(cordial.status, 429)
        XCTAssertEqual(cordial.header("Retry-After"), "1")
        XCTAssertEqual(cordial.header("X-Rate-Limit-Remaining"), "0")
        XCTAssertNotNil(cordial.header("X-Rate-Limit-Limit"))
        XCTAssertNotNil(cordial.header("X-Rate-Limit-Reset"))
        let ingest = try await sim.send(.POST, "/clari/v2/ingest/entity/account", headers: Auth.clariIngest, json: [[String: Any]]())
        XCTAssertEqual(ingest.status, 429)
        XCTAssertEqual((ingest.array.first as? [String: Any])?.str("errorCode"), "TOO_MANY_REQUESTS")
        let claravine = try await sim.send(.GET, "/claravine/v1/datasets", headers: Auth.claravine)
        XCTAssertEqual(claravine.header("X-RateLimit-Remaining"), "0")
    }

    func testResetFaultIsAClientErrorWithNoEffect() async throws {
        let sim = try make("reset:1")
        do {
            let r = try await sim.send(.POST, "/claravine/v1/datasets/ds-campaigns/data", headers: Auth.claravine, json: rows)
            XCTFail("expected a connection error, got \(r.status)")
        } catch {}
        let stats = try await sim.stats()
        XCTAssertEqual(stats.dict("faults").num("reset"), 1)
        XCTAssertNil(stats.dict("created").dict("claravine").num("transactions"))
    }

    func testSlowFaultAnswersCorrectlyAfterADelay() async throws {
        let sim = try make("slow:1", speed: 10)
        let start = Date()
        let r = try await sim.send(.GET, "/claravine/v1/datasets", headers: Auth.claravine)
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.array.count, 3)
        XCTAssertGreaterThanOrEqual(elapsed, 0.19, "2 simulated seconds at speed 10")
    }

    func testTruncateFaultTakesEffectButCutsTheBody() async throws {
        let sim = try make("truncate:1")
        do {
            let r = try await sim.send(.POST, "/claravine/v1/datasets/ds-campaigns/data", headers: Auth.claravine, json: rows)
            XCTFail("expected a truncated body to fail, got \(r.status) \(r.text)")
        } catch {}
        do {
            let r = try await sim.send(.GET, "/claravine/v1/datasets", headers: Auth.claravine)
            XCTFail("expected a truncated body to fail, got \(r.status) \(r.body.count) bytes")
        } catch {}
        let stats = try await sim.stats()
        XCTAssertEqual(stats.dict("faults").num("truncate"), 2)
        XCTAssertEqual(stats.dict("created").dict("claravine").num("transactions"), 1, "the effect happened")
    }

    func testLostFaultTakesEffectWithNoAnswer() async throws {
        let sim = try make("lost:1")
        do {
            let r = try await sim.send(.POST, "/claravine/v1/datasets/ds-campaigns/data", headers: Auth.claravine, json: rows)
            XCTFail("expected no answer, got \(r.status)")
        } catch {}
        _ = try await sim.send(.POST, "/__sim/faults", json: ["spec": ""])
        // The listing is of transaction UUIDs (000_cbb1a42faebe38eb.txt:49): one more than a
        // simulator of the same seed that received nothing.
        let list = try await sim.send(.GET, "/claravine/v1/datasets/ds-campaigns/transactions/", headers: Auth.claravine)
        let untouched = try await make("").send(.GET, "/claravine/v1/datasets/ds-campaigns/transactions/", headers: Auth.claravine)
        XCTAssertEqual(list.array.count, untouched.array.count + 1, "the lost request took effect")
        let stats = try await sim.stats()
        XCTAssertEqual(stats.dict("faults").num("lost"), 1)
        XCTAssertEqual(stats.dict("created").dict("claravine").num("transactions"), 1)
    }

    func testFaultsSpareTheSimulatorsOwnRoutes() async throws {
        let sim = try make("500:1")
        let stats = try await sim.send(.GET, "/__sim/stats")
        XCTAssertEqual(stats.status, 200)
        XCTAssertEqual(stats.object.num("requests"), 0, "stats requests are not vendor requests")
    }

    /// Sends the same 60 requests to a simulator; returns what each produced.
    private func outcomes(_ sim: SimHarness) async -> [String] {
        var out: [String] = []
        for i in 0..<60 {
            let path = i % 2 == 0 ? "/mediarithmics/v1/datamarts/1502/document_imports" : "/claravine/v1/datasets"
            let headers = i % 2 == 0 ? Auth.mediarithmics : Auth.claravine
            do {
                let r = try await sim.send(.GET, path, headers: headers)
                out.append(String(r.status))
            } catch {
                out.append("error")
            }
        }
        return out
    }

    func testSameSeedGivesTheSameFaultsInTheSameOrder() async throws {
        let spec = "500:0.15,429:0.15,reset:0.1,slow:0.1,truncate:0.1,lost:0.1"
        let a = try make(spec, seed: 42, speed: 1000)
        let b = try make(spec, seed: 42, speed: 1000)
        let c = try make(spec, seed: 43, speed: 1000)
        let oa = await outcomes(a), ob = await outcomes(b), oc = await outcomes(c)
        XCTAssertEqual(oa, ob)
        let la = a.simulator.faultLog, lb = b.simulator.faultLog, lc = c.simulator.faultLog
        XCTAssertEqual(la, lb, "same seed, same faults, same order")
        XCTAssertNotEqual(la.map(\.kind), lc.map(\.kind), "another seed gives another sequence")
        XCTAssertEqual(Set(la.map(\.kind)), Set(FaultKind.allCases), "every kind shows up in 60 requests: \(la.map(\.kind))")
        XCTAssertEqual(Set(oa), ["200", "500", "429", "error"])
        // The sequence is a pure function of (seed, n).
        for record in la {
            XCTAssertEqual(FaultInjector.decide(spec: try FaultSpec(parsing: spec), seed: 42, request: record.request), record.kind)
        }
        let served = try await a.send(.GET, "/__sim/faults").object
        XCTAssertEqual((served["sequence"] as? [Any])?.count, la.count)
        XCTAssertEqual(served.num("requests"), 60)
    }

    func testFaultsCanBeChangedAtRuntime() async throws {
        let sim = try make("")
        let bad = try await sim.send(.POST, "/__sim/faults", json: ["spec": "explode:1"])
        XCTAssertEqual(bad.status, 400)
        XCTAssertTrue(bad.object.str("error")?.contains("explode") ?? false)
        let ok = try await sim.send(.POST, "/__sim/faults", json: ["spec": "500:1", "seed": 9])
        XCTAssertEqual(ok.status, 200)
        let r = try await sim.send(.GET, "/quantive/results/api/v1/sessions", headers: Auth.quantive)
        XCTAssertEqual(r.status, 500)
        XCTAssertNotNil(r.object.str("message"))
        _ = try await sim.send(.POST, "/__sim/faults", json: ["spec": ""])
        let clean = try await sim.send(.GET, "/quantive/results/api/v1/sessions", headers: Auth.quantive)
        XCTAssertEqual(clean.status, 200)
    }
}
