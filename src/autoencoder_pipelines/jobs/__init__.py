"""The jobs people use autoencoders for, as plain functions of the data, the settings and a
runtime: pretraining, classification, reduction, anomaly detection; the autoencoder of a kind
for the data, the checks of settings against the data, the scoring bundle. Nothing of Kedro
or MLflow."""
