// name: feature-labels
// summary: Labels of the given features, those the graph holds (the web page's search by examples names its rows with it).
// param features: list<string> -- feature keys <transcoder_set>:<layer>:<index>
// column feature: string -- feature key
// column label: string -- its label (null when it has none)
MATCH (f:Feature)
WHERE f.key IN $features
RETURN f.key AS feature, f.label AS label
ORDER BY feature
