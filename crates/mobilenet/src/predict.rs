//! From probabilities to answers: the top-k classes of each image.

use serde::Serialize;

/// One ranked class.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    /// Index in the model's own numbering (Google's models: 0 = background).
    pub index: usize,
    pub label: String,
    /// Softmax probability.
    pub score: f32,
}

/// The `k` highest-scoring classes of one row of probabilities, best first; ties go to the lower
/// index. `labels` may be shorter than the row (missing labels read `class N`).
pub fn top_k(probs: &[f32], k: usize, labels: &[String]) -> Vec<Prediction> {
    let mut order: Vec<usize> = (0..probs.len()).collect();
    order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]).then(a.cmp(&b)));
    order
        .into_iter()
        .take(k)
        .map(|i| Prediction {
            index: i,
            label: labels
                .get(i)
                .cloned()
                .unwrap_or_else(|| format!("class {i}")),
            score: probs[i],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_best_first_and_breaks_ties_by_index() {
        let labels = vec!["a".to_string(), "b".into(), "c".into()];
        let top = top_k(&[0.2, 0.4, 0.4], 2, &labels);
        assert_eq!((top[0].index, top[1].index), (1, 2));
        assert_eq!(top[0].label, "b");
        assert_eq!(top_k(&[1.0], 5, &[]).len(), 1);
    }
}
