"""The data the suites measure: corpora, the embedded corpus and its synthesis, conditions."""
