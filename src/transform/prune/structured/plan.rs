//! What the channel dependency graph finds: channel spaces, the maps that
//! say which spaces a tensor's channels come from, the edits that shrink
//! constants, and the union-find of spaces that must lose the same
//! channels (a group), with the reasons some cannot.

use std::collections::{BTreeMap, HashSet};

/// A run of channels along a tensor's channel axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Seg {
    /// The space the channels come from; `None`: channels that stay.
    pub space: Option<usize>,
    /// Channels of the space (or kept channels) in this run.
    pub len: usize,
    /// Consecutive indices per channel (H·W after a Flatten, the channel
    /// multiplier after a depthwise Conv).
    pub block: usize,
}

/// Total indices a run of segments covers.
pub(super) fn seg_total(segs: &[Seg]) -> usize {
    segs.iter()
        .map(|s| s.len.saturating_mul(s.block))
        .fold(0, usize::saturating_add)
}

/// How a tensor's channels map to spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ChannelMap {
    /// The runs, in order along the channel axis.
    pub segs: Vec<Seg>,
    /// Channels on the last axis (Gemm/MatMul) rather than axis 1 (Conv).
    pub last: bool,
    /// Rank of the tensor when known.
    pub rank: Option<usize>,
}

impl ChannelMap {
    /// Position of the channel axis, when it can be told.
    pub(super) fn axis(&self) -> Option<usize> {
        if self.last {
            self.rank.and_then(|r| r.checked_sub(1))
        } else {
            Some(1)
        }
    }

    /// Where a broadcast operand of rank `rank` holds the channel axis
    /// (right-aligned broadcasting), or `None` when it has none.
    pub(super) fn operand_axis(&self, rank: usize) -> Option<usize> {
        if self.last {
            rank.checked_sub(1)
        } else {
            let full = self.rank?;
            (rank + 1).checked_sub(full)
        }
    }
}

/// The output channels of one layer.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Space {
    /// Node index of the producer.
    pub node: usize,
    /// Its name as `node_id` gives it.
    pub label: String,
    /// Its op type.
    pub op: String,
    /// Output channels.
    pub channels: usize,
}

/// A constant to shrink along `axis`, indices laid out by `segs`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Edit {
    /// The constant.
    pub tensor: String,
    /// The axis that shrinks.
    pub axis: usize,
    /// Which spaces the indices along the axis belong to.
    pub segs: Vec<Seg>,
    /// The node the constant belongs to.
    pub node: usize,
    /// A layer weight (counts in the channel scores), not a parameter.
    pub scored: bool,
}

/// A node attribute or operand that follows the channel count.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Follow {
    /// A depthwise Conv's `group`: the new input channel count.
    Group {
        /// The Conv.
        node: usize,
        /// Its input channels.
        segs: Vec<Seg>,
    },
    /// A flattening Reshape's shape operand, dim 1: the new feature count.
    ReshapeDim {
        /// The int64 shape constant.
        shape: String,
        /// The flattened features.
        segs: Vec<Seg>,
    },
}

/// The dependency graph of a model: spaces, their groups, what to shrink.
#[derive(Debug, Default)]
pub(super) struct Plan {
    /// Channel spaces in graph order.
    pub spaces: Vec<Space>,
    pub(super) parent: Vec<usize>,
    pub(super) blocked: Vec<Option<String>>,
    /// Constants to shrink.
    pub edits: Vec<Edit>,
    /// Attributes and operands to update.
    pub follows: Vec<Follow>,
    /// Tensors whose channel count may change (stale declared shapes).
    pub touched: HashSet<String>,
    /// Conv/Gemm/MatMul nodes that start no space, with the reason.
    pub not_producers: Vec<(usize, String, String)>,
}

impl Plan {
    /// The group (root space) of `space`.
    pub fn root(&mut self, space: usize) -> usize {
        let mut at = space;
        while let Some(&up) = self.parent.get(at) {
            if up == at {
                break;
            }
            at = up;
        }
        // Path compression.
        let mut walk = space;
        while let Some(&up) = self.parent.get(walk) {
            if up == walk {
                break;
            }
            if let Some(slot) = self.parent.get_mut(walk) {
                *slot = at;
            }
            walk = up;
        }
        at
    }

    pub(super) fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.root(a), self.root(b));
        if ra != rb {
            let (low, high) = (ra.min(rb), ra.max(rb));
            if let Some(slot) = self.parent.get_mut(high) {
                *slot = low;
            }
        }
    }

    /// Marks a space as unprunable (the first reason stays).
    pub fn block(&mut self, space: usize, reason: &str) {
        if let Some(slot) = self.blocked.get_mut(space)
            && slot.is_none()
        {
            *slot = Some(reason.to_owned());
        }
    }

    /// The groups: root space → member spaces (ascending), in order of
    /// their first space.
    pub fn groups(&mut self) -> BTreeMap<usize, Vec<usize>> {
        let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for space in 0..self.spaces.len() {
            let root = self.root(space);
            groups.entry(root).or_default().push(space);
        }
        groups
    }

    /// Why a group cannot be pruned: its first blocked member and the reason.
    pub fn group_reason(&self, members: &[usize]) -> Option<(String, String)> {
        members.iter().find_map(|&space| {
            let reason = self.blocked.get(space)?.as_ref()?;
            let label = self.spaces.get(space).map_or("?", |s| s.label.as_str());
            Some((label.to_owned(), reason.clone()))
        })
    }
}
