import FedSimConfig
import FedSimData
import FedSimTestSupport
import Foundation
import Testing

/// Issue 23: a bad log or features file is refused with file:line, the column, and what was
/// expected.
@Suite struct InteractionLogErrorTests {
    /// Loads `text` as `log.<ext>` with columns user, item, rating (scale 1–10), ts.
    func load(
        _ text: String,
        ext: String = "csv",
        scale: [Double]? = [1, 10],
        duplicates: DataConfig.Duplicates = .error
    )
        throws -> (String, InteractionLogPopulation)
    {
        let dir = TestSupport.temporaryDirectory()
        let path = dir + "/log." + ext
        TestSupport.write(text, to: path)
        var c = InteractionsConfig()
        c.files = [path]
        c.columns.user = "user"
        c.columns.item = "item"
        c.columns.rating = "rating"
        c.columns.timestamp = "ts"
        c.ratingScale = scale
        return (path, try InteractionLogPopulation.load(c, duplicates: duplicates))
    }

    func message(_ text: String, ext: String = "csv", scale: [Double]? = [1, 10]) -> String {
        do {
            _ = try load(text, ext: ext, scale: scale)
            return "no error"
        } catch { return "\(error)" }
    }

    @Test(arguments: [
        // (log, expected line, what the message must say)
        (
            "user,item,ts\nu1,i1,5\n", 1,
            ["no column \"rating\"", "data.interactions.columns.rating", "\"user\", \"item\", \"ts\""]
        ),
        ("user,item,rating,ts\nu1,i1,4,5\nu2,i1,four,6\n", 3, ["column \"rating\"", "\"four\" is not a number"]),
        (
            "user,item,rating,ts\nu1,i1,11,5\n", 2,
            ["column \"rating\"", "outside the declared scale 1...10", "rating_scale"]
        ),
        ("user,item,rating,ts\nu1,i1,3\n", 2, ["expected 4 fields", "column \"ts\" is missing"]),
        ("user,item,rating,ts\nu1,i1,3,5\n\"u2,i1,3,6\nu3,i2,3,7\n", 3, ["column \"user\"", "never closed"]),
        ("user,item,rating,ts\nu1,\"i\"1,3,5\n", 2, ["column \"item\"", "after a closing quote"]),
        ("user,item,rating,ts\nu1,i1,3,yesterday\n", 2, ["column \"ts\"", "not a number"]),
        ("user,item,rating,ts\n,i1,3,5\n", 2, ["column \"user\"", "empty user id"]),
        (
            "user,item,rating,ts\nu1,i1,3,5\nu1,i1,4,6\n", 3,
            ["\"u1\" and item \"i1\" again (first at line 2)", "data.duplicates"]
        ),
    ])
    func badLogsNameFileLineAndColumn(log: String, line: Int, says: [String]) throws {
        let dir = TestSupport.temporaryDirectory()
        let path = dir + "/log.csv"
        TestSupport.write(log, to: path)
        var c = InteractionsConfig()
        c.files = [path]
        c.columns.user = "user"
        c.columns.item = "item"
        c.columns.rating = "rating"
        c.columns.timestamp = "ts"
        c.ratingScale = [1, 10]
        #expect {
            _ = try InteractionLogPopulation.load(c, duplicates: .error)
        } throws: { error in
            let text = "\(error)"
            return text.hasPrefix("\(path):\(line): ") && says.allSatisfy { text.contains($0) }
        }
    }

    @Test func quotedFieldsFollowRFC4180() throws {
        let (_, p) = try load(
            "user,item,rating,ts\r\n\"smith, j\",\"say \"\"hi\"\"\",3,5\r\n\"multi\nline\",i2,4,6\r\n",
            scale: nil
        )
        #expect(p.rawUserIDs == ["multi\nline", "smith, j"])
        #expect(p.rawItemIDs == ["i2", "say \"hi\""])
        #expect(p.ratingScale == 3...4)  // inferred
        // A record's line is where it starts: the multi-line record's error points at line 3.
        #expect(message("user,item,rating,ts\nu1,i1,3,5\n\"a\nb\",i1,x,6\n").contains(".csv:3: column \"rating\""))
    }

    @Test func aDuplicatesPolicyKeepsOnePairAcrossTheLog() throws {
        let log = "user,item,rating,ts\nu1,i1,4,100\nu2,i1,3,150\nu1,i1,2,300\nu1,i2,5,200\n"
        for (policy, rating, ts) in [
            (DataConfig.Duplicates.first, Float(4), Int64(100)), (.last, 2, 300), (.mean, 3, 300),
        ] {
            let (_, p) = try load(log, duplicates: policy)
            #expect(p.ratingCount == 3)
            let u1 = p.interactions(of: 0)
            let k = try #require(u1.items.firstIndex(of: 0))
            #expect(u1.ratings[k] == rating && u1.timestamps[k] == ts)
        }
    }

    @Test func recBoleHeadersAreTyped() throws {
        func recbole(_ inter: String, user: String? = nil, category: String? = nil) -> String {
            let dir = TestSupport.temporaryDirectory() + "/ds"
            try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            TestSupport.write(inter, to: dir + "/ds.inter")
            if let user { TestSupport.write(user, to: dir + "/ds.user") }
            var c = RecBoleConfig()
            c.itemCategory = category
            do {
                _ = try InteractionLogPopulation.load(recbole: c, folder: dir, duplicates: .error)
                return "ok"
            } catch { return "\(error)".replacingOccurrences(of: dir + "/", with: "") }
        }
        #expect(
            recbole("user_id:token\titem_id:token\trating:token\nu\ti\t3\n").hasPrefix(
                "ds.inter:1: column \"rating\" (the rating) is typed token; expected float"
            )
        )
        #expect(
            recbole("user_id:token\titem_id\nu\ti\n").hasPrefix(
                "ds.inter:1: header column 2 is \"item_id\"; expected name:type"
            )
        )
        #expect(
            recbole("user_id:token\titem_id:token\trating:float\nu\ti\t3.5.1\n").hasPrefix(
                "ds.inter:2: column \"rating\""
            )
        )
        #expect(recbole("user_id:token\titem_id:token\nu\ti\n") == "ok")  // implicit
        #expect(
            recbole("user_id:token\titem_id:token\nu\ti\n", user: "user_id:token\tage:float\nu\told\n").hasPrefix(
                "ds.user:2: column \"age\": \"old\" is not a number"
            )
        )
        #expect(
            recbole("user_id:token\titem_id:token\nu\ti\n", user: "user_id:token\tv:float_seq\nu\t1 2\n").hasPrefix(
                "ds.user:1: column \"v\" (the feature) is typed float_seq"
            )
        )
        #expect(recbole("user_id:token\titem_id:token\nu\ti\n", category: "class").hasPrefix("ds.item: no such file"))
        #expect(recbole("user_id:token\titem_id:token\nu\ti\nv\n").hasPrefix("ds.inter:3: expected 2 fields"))
    }

    @Test func missingFilesAndDuplicateFeatureRowsAreNamed() throws {
        let dir = TestSupport.temporaryDirectory()
        var c = InteractionsConfig()
        c.files = [dir + "/absent.csv"]
        #expect { _ = try InteractionLogPopulation.load(c, duplicates: .error) } throws: {
            "\($0)" == "\(dir)/absent.csv: no such file (data.interactions.files[0])"
        }
        TestSupport.write("user_id,item_id\nu1,i1\n", to: dir + "/log.csv")
        TestSupport.write("user_id,job\nu1,a\nu1,b\n", to: dir + "/users.csv")
        c.files = [dir + "/log.csv"]
        var u = FeatureFileConfig()
        u.file = dir + "/users.csv"
        u.categorical = ["job"]
        c.userFeatures = u
        #expect { _ = try InteractionLogPopulation.load(c, duplicates: .error) } throws: {
            "\($0)" == "\(dir)/users.csv:3: column \"user_id\": id \"u1\" is listed again (first at line 2)"
        }
        u.categorical = ["jobs"]
        c.userFeatures = u
        #expect { _ = try InteractionLogPopulation.load(c, duplicates: .error) } throws: {
            "\($0)".hasPrefix(
                "\(dir)/users.csv:1: no column \"jobs\" for the feature (data.interactions.user_features)"
            )
        }
    }
}
