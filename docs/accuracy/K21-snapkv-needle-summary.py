"""Session 21: summarises K21-snapkv-needle-*.txt (SnapKvNeedleProbe's output): per task and pooling kernel, whether
a KV head of layers 4-5 (the layers of the retrieval heads L4H1 and L5H0) evicted the asked value's last token, and
whether the answer was right; and for each kernel-5 miss, where the answer leaves the expected one."""
import re,sys,collections
rows=collections.defaultdict(lambda:collections.Counter())
for f in sys.argv[1:]:
    for b in open(f).read().split('\n== ')[1:]:
        head=b.split('\n')[0]
        task=head.split()[0]
        answer=re.search(r"answer '(\d+)'",head).group(1)
        toks=re.findall(r'\[([^\]]*)\]',head)
        i_is=max(i for i,t in enumerate(toks) if t.strip()=='is')
        val=list(range(i_is+1,len(toks)-1))
        last=val[-1]
        for line in b.split('\n')[1:]:
            m=re.match(r"kernel (\d+): (RIGHT|wrong) '([^']*)'(.*)",line)
            if not m: continue
            k=int(m.group(1)); ok=m.group(2)=='RIGHT'; out=m.group(3)
            masks=dict(re.findall(r'(L\d+kv\d+)=([#.]+)',m.group(4)))
            drops=any(masks[h][last]=='.' for h in ['L4kv0','L4kv1','L5kv0','L5kv1'])
            # the first character where the output leaves the answer, as a share of the answer
            d=next((i for i,(x,y) in enumerate(zip(out,answer)) if x!=y), min(len(out),len(answer)))
            rows[(task,k)][('L4/L5 drop last value token' if drops else 'L4/L5 keep it', 'right' if ok else 'wrong')]+=1
            if not ok and k==5: print(task, 'k5', answer, '->', out, 'first differs at char', d, 'of', len(answer))
for key in sorted(rows): print(key, dict(rows[key]))
