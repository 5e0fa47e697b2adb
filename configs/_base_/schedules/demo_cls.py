# Schedule of the classifiers on the built-in demo dataset: 5 epochs of AdamW from scratch, one
# epoch of linear warm-up then cosine, validation at the end.
max_epochs = 5
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict()
test_cfg = dict()

optim_wrapper = dict(optimizer=dict(type='AdamW', lr=5e-4, weight_decay=0.05))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=1, T_max=max_epochs - 1, eta_min=1e-5)
]
auto_scale_lr = dict(base_batch_size=32)
