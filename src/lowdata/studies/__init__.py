"""Learning-curve studies (`lowdata curve`): budgets x methods x seeds through lowdata.methods.train, their cell store
(SQLite or PostgreSQL), and the report. Studies call methods and evaluation, never the reverse; the curve fits and
label equivalence they report are lowdata.evaluate.curves."""
