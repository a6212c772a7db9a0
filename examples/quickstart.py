"""README quickstart: a graph -> compile -> fit, on CPU in about a minute."""
import jax, optax
import ktg_jax as ktg
from ktg_jax.core import gates

# Two small CNNs learn from the labels; node 1 teaches node 0 through a gate
# that opens linearly over training, node 0 teaches node 1 all along (KL).
spec = ktg.GraphSpec(nodes=["small_cnn", "small_cnn"],
                     edges={("label", 0): gates.Through(), ("label", 1): gates.Through(),
                            (1, 0): gates.Linear(), (0, 1): gates.Through()})
data = ktg.load_data("fractal")  # 32 classes of 8x8 images, generated offline

# compile: the graph's one jitted train step, for a loop of your own ...
program = ktg.compile(spec, num_classes=data.num_classes, total_steps=100,
                      optimizer=optax.sgd(0.05, momentum=0.9))
state = program.init(jax.random.key(0), data.train.images[:64])
state, metrics = program.step(state, {"image": data.train.images[:64],
                                      "label": data.train.labels[:64]})
# ... or fit: the whole loop (epochs, evaluation, checkpoints, pictures).
cfg = ktg.default_config()
cfg.epochs, cfg.batch_size, cfg.lr_schedule = 20, 64, "cosine"
cfg.resume = True  # run it again: it continues from runs/quickstart's checkpoint
result = ktg.fit(spec, data, cfg, workdir="runs/quickstart")
print(f"node 0 validation accuracy: {result.final_target_accuracy:.3f}")
