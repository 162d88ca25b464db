"""The domain: findings, rules, scores, composing and cards. Pure Python, standard library only."""
