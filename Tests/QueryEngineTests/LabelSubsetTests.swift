import ObsCore
@testable import QueryEngine
import Testing

@Suite struct LabelSubsetTests {
    let a = Labels(["__name__": "http_requests_total", "job": "api", "instance": "a", "code": "200"])
    let b = Labels(["__name__": "http_errors_total", "job": "api", "instance": "a", "code": "500"])

    @Test func onKeepsOnlyTheListedLabels() {
        let subset = LabelSubset.on(["job", "instance"])
        #expect(subset.equal(a, b))
        #expect(subset.hash(a) == subset.hash(b))
        #expect(subset.extract(a) == Labels(["job": "api", "instance": "a"]))
    }

    @Test func ignoringDropsTheListedLabelsAndTheName() {
        #expect(LabelSubset.ignoring(["code"]).equal(a, b))
        #expect(!LabelSubset.ignoring([]).equal(a, b))
        #expect(LabelSubset.ignoring(["code"]).extract(a) == Labels(["job": "api", "instance": "a"]))
    }

    @Test func groupsKeepFirstAppearanceOrder() {
        var groups = SubsetGroups(.on(["code"]))
        #expect(groups.add(b, member: 0) == 0)
        #expect(groups.add(a, member: 1) == 1)
        #expect(groups.add(b.setting("job", to: "web"), member: 2) == 0)
        #expect(groups.members == [[0, 2], [1]])
        #expect(groups.find(Labels(["code": "200"])) == 1)
        #expect(groups.find(Labels(["code": "404"])) == nil)
    }
}
