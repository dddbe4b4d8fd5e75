"""The AutoBuild predictor: FE-MLP, hop-level GNN, magnitude-ranked loss, training."""
from core.predictor.batching import EncodedGraphs, GraphBatch
from core.predictor.fe_mlp import FeatureEmbedding
from core.predictor.loss import magnitude_ranked_loss, soft_spearman
from core.predictor.model import GNN_LAYERS, AutoBuildPredictor, PredictorConfig, PredictorOutput
from core.predictor.train import EpochReport, TrainConfig, TrainResult, predict_encoded, train_predictor

__all__ = [
    "EncodedGraphs", "GraphBatch", "FeatureEmbedding", "magnitude_ranked_loss", "soft_spearman",
    "GNN_LAYERS", "AutoBuildPredictor", "PredictorConfig", "PredictorOutput", "EpochReport",
    "TrainConfig", "TrainResult", "predict_encoded", "train_predictor",
]
