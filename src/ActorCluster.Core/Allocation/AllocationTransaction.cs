namespace ActorCluster.Core.Allocation;

/// <summary>
/// All-or-nothing allocation, as kube-apiserver's PortAllocationOperation and metaTransaction:
/// allocations take effect at once (so nothing is handed out twice meanwhile), releases wait for
/// <see cref="Commit"/>, and <see cref="Revert"/> undoes every allocation and forgets the releases.
/// A failed update therefore leaks nothing and frees nothing.
/// </summary>
public sealed class AllocationTransaction
{
    private readonly List<Action> _undo = [];
    private readonly List<Action> _deferredReleases = [];
    private bool _finished;

    public void OnRevert(Action undo) => _undo.Add(undo);

    public void ReleaseOnCommit(Action release) => _deferredReleases.Add(release);

    public void Commit()
    {
        if (_finished) return;
        _finished = true;
        foreach (var release in _deferredReleases) release();
    }

    public void Revert()
    {
        if (_finished) return;
        _finished = true;
        for (var i = _undo.Count - 1; i >= 0; i--) _undo[i]();
    }
}
