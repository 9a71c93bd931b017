//! The last stage, decide: the control's result from the figure, in integer arithmetic, unless
//! the collection cannot support one.

crate::vocabulary! {
    /// The point-in-time result of ID-01.
    pub enum ControlResult {
        Pass => "pass",
        Fail => "fail",
        InsufficientEvidence => "insufficient-evidence",
    }
}

/// Counts only: the in-scope population and how many of it are registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Figure {
    pub in_scope: u64,
    pub registered: u64,
}

impl Figure {
    /// Counts one user: `registered` is `None` for a user out of scope.
    pub(crate) fn count(&mut self, registered: Option<bool>) {
        if let Some(registered) = registered {
            self.in_scope += 1;
            self.registered += u64::from(registered);
        }
    }
}

/// Why the result is what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultBasis {
    /// organization, users or the registration report was not collected.
    RequiredSourceMissing,
    /// A break-glass group is configured but its members were not collected.
    BreakGlassGroupNotCollected,
    /// No user is in scope.
    EmptyScope,
    /// The figure met the threshold.
    AtOrAboveThreshold,
    /// The figure fell short of the threshold.
    BelowThreshold,
}

/// The control's decision on counts: `registered * 10000 >= threshold_basis_points * in_scope`.
pub fn decide(figure: Figure, threshold_basis_points: u32) -> ControlResult {
    if figure.in_scope == 0 {
        ControlResult::InsufficientEvidence
    } else if figure.registered as u128 * 10_000
        >= threshold_basis_points as u128 * figure.in_scope as u128
    {
        ControlResult::Pass
    } else {
        ControlResult::Fail
    }
}

/// The result and its basis: a collection that cannot show the population is never a pass.
pub(crate) fn outcome(
    required_sources_collected: bool,
    group_uncollected: bool,
    figure: Figure,
    threshold_basis_points: u32,
) -> (ControlResult, ResultBasis) {
    if !required_sources_collected {
        return (
            ControlResult::InsufficientEvidence,
            ResultBasis::RequiredSourceMissing,
        );
    }
    if group_uncollected {
        return (
            ControlResult::InsufficientEvidence,
            ResultBasis::BreakGlassGroupNotCollected,
        );
    }
    let result = decide(figure, threshold_basis_points);
    let basis = match result {
        ControlResult::InsufficientEvidence => ResultBasis::EmptyScope,
        ControlResult::Pass => ResultBasis::AtOrAboveThreshold,
        ControlResult::Fail => ResultBasis::BelowThreshold,
    };
    (result, basis)
}
