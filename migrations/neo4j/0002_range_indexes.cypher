// Range indexes for the entry points of the named queries.
CREATE INDEX prompt_pn IF NOT EXISTS FOR (p:Prompt) ON (p.pn);
CREATE INDEX prompt_prompt_id IF NOT EXISTS FOR (p:Prompt) ON (p.prompt_id);
CREATE INDEX prompt_run IF NOT EXISTS FOR (p:Prompt) ON (p.run);
CREATE INDEX feature_layer_index IF NOT EXISTS FOR (f:Feature) ON (f.transcoder_set, f.layer, f.index);
CREATE INDEX token_id IF NOT EXISTS FOR (t:Token) ON (t.token_id);
CREATE INDEX agg_support IF NOT EXISTS FOR ()-[r:AGG]-() ON (r.support);
CREATE INDEX agg_out_support IF NOT EXISTS FOR ()-[r:AGG_OUT]-() ON (r.support);
