//! `dvc-audit rules test`: run every embedded `[[rule.test]]` case.

use super::eval::AgencyScope;
use super::model::{Expect, Rule, Scope, TestCase};
use super::outcome::{Outcome, Verdict};
use super::set::RuleSet;

/// One case whose outcome differed from its expectation.
#[derive(Debug, Clone, PartialEq)]
pub struct TestFailure {
    pub rule_id: String,
    pub case: String,
    /// `file:line:col` of the case.
    pub location: String,
    pub expected: Expect,
    pub got: Verdict,
}

impl std::fmt::Display for TestFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} / {}: expected {}, got {}",
            self.location,
            self.rule_id,
            self.case,
            self.expected.as_str(),
            self.got.as_str()
        )?;
        if let Verdict::CouldNotAssess { reason, detail } = &self.got {
            write!(f, " ({reason}: {detail})")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default)]
pub struct TestReport {
    pub passed: usize,
    pub failures: Vec<TestFailure>,
}

impl TestReport {
    pub fn summary(&self) -> String {
        format!("{} passed, {} failed", self.passed, self.failures.len())
    }
}

/// Evaluate one rule on one case's facts.
pub fn run_case(set: &RuleSet, rule: &Rule, case: &TestCase) -> Outcome {
    let mut params = set.params().clone();
    params.extend(case.params.clone());
    let scope = AgencyScope::with_params(set, &case.agency, &params);
    match rule.scope {
        Scope::Service => {
            let act = scope.service_activation(&case.service);
            scope.service_rule(rule, &act, &case.service)
        }
        Scope::Host => {
            let act = scope.host_activation(&case.host);
            scope.host_rule(rule, &act, &case.host)
        }
        Scope::Agency => {
            let act = scope.agency_activation(&case.services, &case.hosts);
            let unknown = super::eval::agency_scope_unknowns(&case.services, &case.hosts);
            scope.agency_rule(rule, &act, &unknown, &case.services, &case.hosts)
        }
    }
}

fn matches(expect: Expect, got: &Verdict) -> bool {
    matches!(
        (expect, got),
        (Expect::Pass, Verdict::Pass)
            | (Expect::Fail, Verdict::Fail)
            | (Expect::NotApplicable, Verdict::NotApplicable)
            | (Expect::CouldNotAssess, Verdict::CouldNotAssess { .. })
    )
}

impl RuleSet {
    /// Run every embedded case of every rule.
    pub fn self_test(&self) -> TestReport {
        let mut report = TestReport::default();
        for rule in &self.rules {
            for case in &rule.tests {
                let got = run_case(self, rule, case).verdict;
                if matches(case.expect, &got) {
                    report.passed += 1;
                } else {
                    let (l, c) = rule.origin.file.line_col(case.span.start);
                    report.failures.push(TestFailure {
                        rule_id: rule.id.clone(),
                        case: case.name.clone(),
                        location: format!("{}:{l}:{c}", rule.origin.file.name),
                        expected: case.expect,
                        got,
                    });
                }
            }
        }
        report
    }
}
