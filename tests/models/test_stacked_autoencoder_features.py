import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC

from keras_deepae.datasets import load
from keras_deepae.models import StackedAutoencoder, StackedAutoencoderFeatures
from keras_deepae.regularizers import ActivityL1


@pytest.fixture(scope="module")
def digits():
    """Digits as images (N, 8, 8, 1) in [0, 1]: 120 to train, 60 to test."""
    return load("digits", n_train=120, n_test=60)


def test_hyper_parameters_get_set_and_clone():
    features = StackedAutoencoderFeatures(
        hidden_units=(16, 8), noise="mask", rate=0.3, epochs_per_layer=2, seed=1
    )
    params = features.get_params()
    assert params["hidden_units"] == (16, 8) and params["rate"] == 0.3
    assert set(params) == {
        "hidden_units",
        "activation",
        "output_activation",
        "tied",
        "noise",
        "rate",
        "stddev",
        "code_regularizer",
        "layers",
        "epochs_per_layer",
        "batch_size",
        "optimizer",
        "seed",
        "verbose",
    }
    features.set_params(hidden_units=(4,), code_regularizer=ActivityL1(0.1))
    copy = clone(features)
    assert copy is not features
    assert copy.get_params()["hidden_units"] == (4,)
    assert copy.get_params()["code_regularizer"].l1 == 0.1
    assert not hasattr(copy, "stack_")


def test_fit_pretrains_a_stack_and_transform_flattens_images(digits):
    features = StackedAutoencoderFeatures(
        hidden_units=(12, 6),
        noise="gaussian",
        stddev=0.2,
        layers="all",
        epochs_per_layer=1,
        seed=0,
    )
    assert features.fit(digits.x_train) is features
    stack = features.stack_
    assert isinstance(stack, StackedAutoencoder)
    assert stack.corruption.noise == "gaussian" and stack.corruption.stddev == 0.2
    assert features.n_features_in_ == 64
    every = features.transform(digits.x_test)
    assert every.shape == (60, 18)
    # Flat or image inputs give the same features.
    flat = digits.x_test.reshape(60, -1)
    np.testing.assert_array_equal(features.transform(flat), every)
    np.testing.assert_array_equal(every, stack.transform(flat, layers="all"))
    names = features.get_feature_names_out()
    assert names[0] == "code_1_1" and names[-1] == "code_2_6" and len(names) == 18
    features.set_params(layers="last")
    assert features.transform(flat).shape == (60, 6)
    assert list(features.get_feature_names_out()) == [
        f"code_2_{j}" for j in range(1, 7)
    ]


def test_pipeline_with_an_svm_grid_searches_fits_and_predicts(digits):
    pipeline = Pipeline(
        [
            (
                "sae",
                StackedAutoencoderFeatures(
                    hidden_units=(32,), epochs_per_layer=2, batch_size=16, seed=0
                ),
            ),
            ("svm", SVC()),
        ]
    )
    # Each of the 2 x 2 fits pretrains its own stack (clones), then the
    # best candidate is refitted on all the training data.
    search = GridSearchCV(pipeline, {"svm__C": [0.1, 10.0]}, cv=2)
    search.fit(digits.x_train, digits.y_train)
    assert search.best_params_["svm__C"] in (0.1, 10.0)
    assert len(search.cv_results_["mean_test_score"]) == 2
    assert pipeline.steps[0][1].get_params()["hidden_units"] == (32,)
    assert not hasattr(pipeline.steps[0][1], "stack_")  # the original is not fitted
    best = search.best_estimator_
    assert best.predict(digits.x_test).shape == (60,)
    # Ten classes, 120 training images: far better than chance (0.1).
    assert best.score(digits.x_test, digits.y_test) > 0.5


def test_transform_before_fit_and_bad_inputs(digits):
    features = StackedAutoencoderFeatures(hidden_units=(4,), epochs_per_layer=1)
    with pytest.raises(NotFittedError):
        features.transform(digits.x_test)
    with pytest.raises(ValueError, match=r"`X` must be an array of shape.*\(64,\)"):
        features.fit(np.zeros(64))
    with pytest.raises(ValueError, match=r'`layers` must be "last" or "all".*=3'):
        StackedAutoencoderFeatures(layers=3).fit(digits.x_train)
    with pytest.raises(ValueError, match=r"`hidden_units` must be.*=\(0,\)"):
        StackedAutoencoderFeatures(hidden_units=(0,)).fit(digits.x_train)
    features.fit(digits.x_train[:20])
    with pytest.raises(ValueError, match=r"64 features.*Received: 63 features"):
        features.transform(np.zeros((2, 63)))
