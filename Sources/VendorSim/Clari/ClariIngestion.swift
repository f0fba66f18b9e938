import Foundation
import NIOConcurrencyHelpers
import NIOHTTP1

/// Clari's ingestion API (001_5f3c65e90f1cda6d.txt, /ingest...): the routes are
/// listed in ClariSim.routes(); their handlers live here.
extension ClariSim {
    typealias IngestErrors = [[String: String]]

    private static func invalid(_ summary: String) -> [String: String] { ["errorCode": "INVALID_INPUT_FORMAT", "errorSummary": summary] }

    /// The structure `[{sourceEntity, records: [...]}]` (001_5f3c65e90f1cda6d.txt:1560): the
    /// errors of :1659–1665 when it is not that; else the batches.
    static func ingestStructure(_ value: Any?) -> ([[String: Any]], IngestErrors) {
        guard let batches = value as? [Any] else { return ([], [invalid("Payload is not an array")]) }
        var out: [[String: Any]] = []
        var errors: IngestErrors = []
        for item in batches {
            guard let batch = item as? [String: Any], batch.string("sourceEntity") != nil else {
                errors.append(invalid("sourceEntity is missing dataSet"))
                continue
            }
            guard batch.array("records") != nil else {
                errors.append(invalid("records is missing for dataSet"))
                continue
            }
            out.append(batch)
        }
        return (out, errors)
    }

    /// The record rules (001_5f3c65e90f1cda6d.txt:1591 id, createdAt, updatedAt required;
    /// :1657 updatedAt >= createdAt; :1679 duplicates); returns the record count and errors.
    static func validateRecords(_ batches: [[String: Any]]) -> (count: Int, errors: IngestErrors) {
        var errors: IngestErrors = []
        var count = 0
        for batch in batches {
            var seen = Set<String>()
            for r in batch.array("records") ?? [] {
                count += 1
                guard let record = r as? [String: Any] else {
                    errors.append(invalid("Failed validation for data at path: / record is not of type 'object'"))
                    continue
                }
                let id = record["id"]
                guard let key = (id as? String) ?? (id as? NSNumber).flatMap({ isBool($0) ? nil : $0.stringValue }) else {
                    errors.append(invalid("Primary key field is missing"))
                    continue
                }
                if !seen.insert(key).inserted { errors.append(invalid("Duplicate record with value for primary key field")) }
                var times: [Double] = []
                for field in ["createdAt", "updatedAt"] {
                    guard let v = record[field], !(v is NSNull) else {
                        errors.append(invalid("Field is missing"))
                        continue
                    }
                    guard let n = v as? NSNumber, !isBool(n) else {
                        errors.append(invalid("Failed validation for data at path: /\(field) \(v) is not of type 'number'"))
                        continue
                    }
                    times.append(n.doubleValue)
                }
                if times.count == 2, times[1] < times[0] {
                    errors.append(invalid("Failed validation for data at path: / updatedAt should be greater than or equal to createdAt"))
                }
            }
        }
        return (count, errors)
    }

    /// mode and isLastBatch (001_5f3c65e90f1cda6d.txt:1396, :1462), and the entity (:1468).
    private func ingestChecks(_ request: SimRequest, _ entity: String) -> (mode: String, last: Bool)? {
        guard Self.ingestEntities.contains(entity) else { return nil }
        let mode = request.queryValue("mode") ?? "incremental"
        guard ["initial", "incremental"].contains(mode) else { return nil }
        let lastText = request.queryValue("isLastBatch") ?? "false"
        guard lastText == "true" || lastText == "false" else { return nil }
        return (mode, lastText == "true")
    }

    private func ingestRefusal(_ request: SimRequest, _ entity: String) -> SimResponse {
        if !Self.ingestEntities.contains(entity) {
            return .json(400, [Self.invalid("Entity is not valid/enabled for integration. Please try again with a valid/enabled entity")])
        }
        return .json(400, [Self.invalid("Mode value is invalid. Please try again with a valid mode value, possible values are [initial, increment]")])
    }

    func ingest(_ request: SimRequest, _ entity: String) -> SimResponse {
        guard ingestChecks(request, entity) != nil else { return ingestRefusal(request, entity) }
        let (batches, structure) = Self.ingestStructure(request.json)
        guard structure.isEmpty else { return .json(400, structure) }
        let (count, errors) = Self.validateRecords(batches)
        if count > Self.maxIngestRecords { return .json(400, [Self.invalid("The number of records limit to 100")]) }  // :1667
        guard errors.isEmpty else { return .json(400, errors) }
        context.stats.count(name, "ingest_requests")
        context.stats.count(name, "records_received", count)
        return .empty(200)  // :1625 "Data is uploaded" (no body documented)
    }

    func ingestBulk(_ request: SimRequest, _ entity: String) -> SimResponse {
        guard let options = ingestChecks(request, entity) else { return ingestRefusal(request, entity) }
        // 001_5f3c65e90f1cda6d.txt:1460
        let notJSON = [["errorCode": "INVALID_FILE_FORMAT", "errorSummary": "Allowed file format is JSON only. Please try again with right format."]]
        let tooLarge = [["errorCode": "INVALID_FILE_FORMAT", "errorSummary": "The file is larger than 10MB; upload a single JSON file of at most 10MB"]]
        if request.bodyTooLarge { return .json(400, tooLarge) }
        guard let type = request.header("Content-Type"), let boundary = Multipart.boundary(type),
              let part = Multipart.parts(request.body, boundary: boundary).first(where: { $0.name == "FileData" }) else {
            return .json(400, notJSON)
        }
        guard part.body.count <= Self.maxBulkFileBytes else { return .json(400, tooLarge) }
        guard let value = JSON.decode(part.body) else { return .json(400, notJSON) }
        let (batches, structure) = Self.ingestStructure(value)
        if !structure.isEmpty && variant("clari.bulk_errors") == "submit" { return .json(400, structure) }
        let (count, recordErrors) = Self.validateRecords(batches)
        let fails = batches.contains { $0.string("sourceEntity") == "sim-fail" }
        let now = context.clock.now()
        let id: String = lock.withLock {
            let id = state.ids.objectId()
            state.ingestJobs[id] = IngestJob(id: id, entity: entity, mode: options.mode, isLastBatch: options.last, created: now,
                                             recordCount: count, validationErrors: structure + recordErrors, fails: fails)
            return id
        }
        context.stats.created(name, "ingestion_jobs", identity: entity + "|" + Stats.digest(part.body))
        context.stats.count(name, "records_received", count)
        return .json(202, ["jobId": id])
    }

    func ingestJob(_ id: String) -> SimResponse {
        guard let job = lock.withLock({ state.ingestJobs[id] }) else {
            return error(.ingestJob, status: 404, code: "", message: "Bulk ingestion job not found. Please provide correct jobId.")  // :1968
        }
        let now = context.clock.now()
        let elapsed = (now - job.created) * context.clock.speed
        let startAt = job.created + context.clock.real(Self.queuedSeconds)
        let endAt = job.created + context.clock.real(Self.queuedSeconds + Self.runningSeconds)
        var m: [String: Any] = [
            "jobId": job.id, "orgId": Self.orgId, "userId": Self.apiUserId, "module": "DATA_INGESTION",
            "submittedTime": Self.millis(job.created), "startTime": NSNull(), "endTime": NSNull(),
            "title": "Data Ingestion", "fileName": "data.json",
        ]
        let status: Int
        if elapsed < Self.queuedSeconds {
            (status, m["status"], m["message"]) = (202, "QUEUED", "Bulk ingestion job is in queue")
        } else if elapsed < Self.queuedSeconds + Self.runningSeconds {
            (status, m["status"], m["message"]) = (202, "IN_PROGRESS", "Bulk ingestion job is in progress")  // :1900
            m["startTime"] = Self.millis(startAt)
        } else {
            m["startTime"] = Self.millis(startAt)
            m["endTime"] = Self.millis(endAt)
            if !job.validationErrors.isEmpty {
                (status, m["status"], m["message"]) = (400, "VALIDATION_ERROR", job.validationErrors)  // :1919
            } else if job.fails {
                (status, m["status"], m["message"]) = (500, "FAILED", "Bulk ingestion job failed. Please retry ingestion.")  // :1996
            } else {
                (status, m["status"], m["message"]) = (200, "SUCCESS", "Ingestion successfully completed.")  // :1881
            }
        }
        return .json(status, ["message": m])
    }

    func addPicklist(_ request: SimRequest, _ entity: String) -> SimResponse {
        // 001_5f3c65e90f1cda6d.txt:2395–2405 the error summaries.
        func refuse(_ summary: String) -> SimResponse { .json(400, [Self.invalid(summary)]) }
        let schema = lock.withLock { state.picklists[entity] }
        guard let fields = schema else { return refuse("Oops! Partner Schema is not defined.") }
        guard let body = request.jsonObject else { return refuse("One or more error in validating field details. fieldName cannot be empty or null") }
        guard let field = body.string("fieldName"), !field.isEmpty else {
            return refuse("One or more error in validating field details. fieldName cannot be empty or null")
        }
        guard let type = body.string("fieldType"), !type.isEmpty else {
            return refuse("One or more error in validating field details. fieldType cannot be empty or null")
        }
        guard ["picklist", "multipicklist"].contains(type) else {
            return refuse("FieldType is not supported. Supported FieldTypes are [picklist, multipicklist]")
        }
        guard fields[field] != nil else { return refuse("Oops! \(field) is not defined in schema.") }
        guard let values = body.strings("values"), !values.isEmpty else {
            return refuse("One or more error in validating field details. Please provide picklist options.")
        }
        lock.withLock {
            var current = state.picklists[entity]?[field] ?? (type, [])
            for v in values where !current.values.contains(v) { current.values.append(v) }
            current.type = type
            state.picklists[entity, default: [:]][field] = current
        }
        context.stats.count(name, "picklist_values", values.count)
        return .json(200, ["message": "picklist options have been updated successfully."])  // :2370
    }

    /// `fieldNames` (comma separated, optional: every field) → `{field: [values]}`; a
    /// name the schema does not define is left out (the seed documents no error).
    func getPicklist(_ request: SimRequest, _ entity: String) -> SimResponse {
        let fields = lock.withLock { state.picklists[entity] ?? [:] }
        var wanted = Array(fields.keys)
        if let names = request.queryValue("fieldNames") {
            wanted = names.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        var out: [String: Any] = [:]
        for name in wanted { if let f = fields[name] { out[name] = f.values } }
        return .json(200, out)
    }
}
